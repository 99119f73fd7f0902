"""Pages of the back office: its home (/gestion) and the audit log (/gestion/journal and its CSV)."""

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.deps import CurrentPrincipal
from app.accounts.policy import Principal
from app.accounts.sessions import session_state
from app.backoffice import service
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.templating import render

logger = logging.getLogger("carreau")
router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=200)]
Short = Annotated[str, Query(max_length=80)]


def shows_back_office(request: Request) -> bool:
    """Whether the header links to the back office: for people with a back-office role. Uses the
    request's principal when a route loaded it, else reads the person's grants (one small query)."""
    try:
        if hasattr(request.state, "principal"):
            return service.is_staff(request.state.principal)
        state = request.scope.get("carreau.session")
        if state is None or session_state(request).user_id is None:
            return False
        with request.app.state.session_factory() as session:
            grants = accounts.grants_of(session, session_state(request).user_id)
        return any(grant.role in service.STAFF_ROLES for grant in grants)
    except Exception:  # a header link must never break a page (nor the error page itself)
        logger.exception("could not tell whether to show the back-office link")
        return False


@router.get("/gestion", response_class=HTMLResponse, name="backoffice:home")
def home(request: Request, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    service.require_staff(principal)
    return render(request, "backoffice/home.html", active="backoffice", tools=service.tools_for(session, principal),
                  roles=service.roles_in_words(session, principal))


def _journal_filters(actor: str, action: str, target_type: str, target_id: str, channel: str, since: str,
                     until: str, consultation: str) -> service.AuditFilters:
    return service.parse_filters(actor=actor, action=action, target_type=target_type, target_id=target_id,
                                 channel=channel, since=since, until=until, consultation=consultation)


def _journal_page(request: Request, session: Session, principal: Principal, filters: service.AuditFilters, *,
                  cursor: str = "", errors: dict[str, list[str]] | None = None,
                  status_code: int = 200) -> HTMLResponse:
    page = None if errors else service.audit_page(session, principal, filters, cursor=cursor)
    # With errors, the reach is still checked: the unauthorised learn nothing, not even about the form.
    reach = service.audit_reach(session, principal) if page is None else page.reach
    query = filters.query()
    return render(
        request, "backoffice/journal.html", status_code=status_code, active="backoffice", filters=filters,
        values=filters.raw, errors=errors or {}, page=page, reach=reach, cursor=cursor,
        export_href="/gestion/journal.csv" + (f"?{urlencode(query)}" if query else ""),
        first_href="/gestion/journal" + (f"?{urlencode(query)}" if query else ""),
        next_href=(f"/gestion/journal?{urlencode({**query, 'cursor': page.next_cursor})}"
                   if page is not None and page.next_cursor else None),
        action_name=service.action_name, target_type_name=service.target_type_name,
        channel_name=service.channel_name, changes=service.changes, target_href=service.target_href,
        target_types=service.TARGET_TYPES, channels=service.CHANNELS,
        consultations=service.consultations_within(session, reach),
    )


@router.get("/gestion/journal", response_class=HTMLResponse, name="backoffice:journal")
def journal(request: Request, session: SessionDep, principal: CurrentPrincipal, actor: Text = "", action: Short = "",
            target_type: Short = "", target_id: Short = "", channel: Short = "", since: Short = "",
            until: Short = "", consultation: Short = "", cursor: Text = "") -> HTMLResponse:
    try:
        filters = _journal_filters(actor, action, target_type, target_id, channel, since, until, consultation)
    except service.InvalidAuditFilter as refusal:
        raw = {"actor": actor, "action": action, "target_type": target_type, "target_id": target_id,
               "channel": channel, "since": since, "until": until, "consultation": consultation}
        return _journal_page(request, session, principal, service.AuditFilters(raw=raw), errors=refusal.errors,
                             status_code=400)
    try:
        return _journal_page(request, session, principal, filters, cursor=cursor)
    except service.InvalidAuditFilter as refusal:  # a damaged cursor: the first page again, with a word
        return _journal_page(request, session, principal, filters, errors=refusal.errors, status_code=400)


@router.get("/gestion/journal.csv", name="backoffice:journal-csv")
def journal_csv(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal, actor: Text = "",
                action: Short = "", target_type: Short = "", target_id: Short = "", channel: Short = "",
                since: Short = "", until: Short = "", consultation: Short = "") -> StreamingResponse:
    try:
        filters = _journal_filters(actor, action, target_type, target_id, channel, since, until, consultation)
    except service.InvalidAuditFilter as refusal:
        service.audit_reach(session, principal)  # the unauthorised learn nothing about the filters
        raise refusal
    statement = service.export_statement(session, principal, filters)
    name = f"journal-{now.strftime('%Y%m%d-%H%M')}.csv"
    return StreamingResponse(
        service.export_csv(request.app.state.session_factory, statement), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )

