"""Pages of the consultations domain: an axis and its consultations (open ones first), filtered
by phase and scope. The consultation page itself lists proposals, so app.proposals.routes serves it.

Also the consultations' back office, under /gestion/consultations, for moderators (of an axis or
a consultation) and admins: the list, the create and edit forms, the preview, and the acts
(publish, duplicate, archive, close a phase early). Plain forms and POST-redirect-GET throughout."""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal
from app.accounts.policy import Principal
from app.consultations import service
from app.consultations.models import Consultation, ConsultationStatus, Phase, ScopeKind, VotingMethod
from app.consultations.phases import PhaseSpan, timeline
from app.consultations.schemas import ConsultationIn, ConsultationPatch
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.markdown import render_markdown
from app.core.templating import render
from app.territory import service as territory
from app.territory.models import Axis

router = APIRouter(include_in_schema=False)

CONSULTATIONS_PER_PAGE = 12
PHASE_FILTERS = tuple(phase.value for phase in Phase)
SCOPE_FILTERS = tuple(kind.value for kind in ScopeKind)


@dataclass(frozen=True)
class ConsultationCard:
    consultation: Consultation
    phase: Phase
    current: PhaseSpan | None  # the running phase, None before the first and after the last
    scope_name: str


def card(session: Session, consultation: Consultation, now: datetime) -> ConsultationCard:
    spans = timeline(consultation, now)
    current = next((span for span in spans if span.state == "current"), None)
    return ConsultationCard(consultation, service.current_phase(consultation, now), current,
                            service.scope_name(session, consultation))


@router.get("/axes/{slug}", response_class=HTMLResponse, name="consultations:axis")
def axis_page(
    request: Request, slug: str, session: SessionDep, now: NowDep,
    phase: Annotated[str, Query(max_length=20)] = "",
    scope: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    axis = territory.get_axis(session, slug)
    axes = territory.list_axes(session)
    position = next(i for i, other in enumerate(axes) if other.id == axis.id)
    # Unknown filter values (an old or hand-made link) mean "all" rather than an error page.
    phase = phase if phase in PHASE_FILTERS else ""
    scope = scope if scope in SCOPE_FILTERS else ""
    listing = service.list_published(
        session, now=now, axis_id=axis.id, phase=Phase(phase) if phase else None, scope_kind=scope or None,
        limit=CONSULTATIONS_PER_PAGE, offset=(page - 1) * CONSULTATIONS_PER_PAGE,
    )
    page_count = max(1, -(-listing.total // CONSULTATIONS_PER_PAGE))
    return render(
        request, "territory/axis.html", fragment="consultations/_list.html",
        axis=axis, previous_axis=axes[position - 1] if position > 0 else None,
        next_axis=axes[position + 1] if position + 1 < len(axes) else None,
        cards=[card(session, consultation, now) for consultation in listing.items], total=listing.total,
        phase=phase, scope=scope, page=page, page_count=page_count,
        sections=service.axis_sections(session, axis.id or 0, now=now),
    )
