"""/api/v1/audit: the audit log, newest first, filtered and scoped as on /gestion/journal."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.accounts.deps import CurrentPrincipal
from app.backoffice import service
from app.backoffice.schemas import AuditEntryOut, AuditPageOut
from app.core.db import SessionDep
from app.core.errors import problem
from app.core.i18n import gettext as _

router = APIRouter(prefix="/api/v1", tags=["backoffice"])


@router.get(
    "/audit", response_model=AuditPageOut, summary="The audit log (admins: all; moderators: their axes' entries)",
    description="Every act of moderators, mediators and admins, newest first. `actor` is an account id or part "
    "of a name; `action` a code or its family (`proposal` matches `proposal.hidden`); `since` and `until` "
    "a day (YYYY-MM-DD, Europe/Paris, inclusive) or an ISO 8601 moment (UTC when no offset is given). A "
    "moderator sees the entries about their axes and consultations, and their own acts.",
)
def audit_log(
    session: SessionDep, principal: CurrentPrincipal,
    actor: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=80)] = "",
    target_type: Annotated[str, Query(max_length=40)] = "",
    target_id: Annotated[str, Query(max_length=40)] = "",
    channel: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    consultation: Annotated[str, Query(max_length=12, description="A consultation's id: the entries about it "
                                                                 "and everything in it")] = "",
    limit: Annotated[int, Query(ge=1, le=service.API_MAX_LIMIT)] = service.PAGE_SIZE,
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> AuditPageOut | JSONResponse:
    try:
        filters = service.parse_filters(actor=actor, action=action, target_type=target_type, target_id=target_id,
                                        channel=channel, since=since, until=until, consultation=consultation)
        page = service.audit_page(session, principal, filters, cursor=cursor, limit=limit)
    except service.InvalidAuditFilter as refusal:
        # The fields at fault, as a request validation error names them.
        errors = [{"location": ["query", name], "message": message}
                  for name, messages in refusal.errors.items() for message in messages]
        return problem(refusal.status_code, _(refusal.message), type=f"/problems/{refusal.code}", errors=errors)
    return AuditPageOut(items=[AuditEntryOut.model_validate(entry, from_attributes=True) for entry in page.entries],
                        next_cursor=page.next_cursor)
