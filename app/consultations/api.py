"""/api/v1/consultations: list, read, create and change consultations."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session, select

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal
from app.consultations import service
from app.consultations.models import Consultation, Phase, ScopeKind
from app.consultations.schemas import (
    AxisRef,
    ConsultationIn,
    ConsultationOut,
    ConsultationPage,
    ConsultationPatch,
    PhaseOut,
    RulesOut,
    ScopeOut,
)
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.territory.models import Axis
from app.territory.service import AxisNotFound

router = APIRouter(prefix="/api/v1", tags=["consultations"])


def consultation_out(session: Session, consultation: Consultation, now: object) -> ConsultationOut:
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    assert axis.id is not None
    assert consultation.id is not None
    return ConsultationOut(
        id=consultation.id, slug=consultation.slug, title=consultation.title, summary=consultation.summary,
        axis=AxisRef(id=axis.id, number=axis.number, slug=axis.slug, title=axis.title),
        scope=ScopeOut(kind=consultation.scope_kind, code=consultation.scope_code,
                       name=service.scope_name(session, consultation, in_words=False)),
        phase=service.current_phase(consultation, now),  # type: ignore[arg-type]
        phases={name: PhaseOut(**span) for name, span in service.phases_of(consultation).items()},
        voting_method=consultation.voting_method,
        rules=RulesOut(max_supports=consultation.max_supports, min_age=consultation.min_age,
                       required_verification=consultation.required_verification,
                       results_hidden_until_end=consultation.results_hidden_until_end,
                       budget_total=consultation.budget_total),
        status=consultation.status, is_premoderated=consultation.is_premoderated,
    )


@router.get("/consultations", response_model=ConsultationPage, summary="Published consultations, open ones first")
def list_consultations(
    session: SessionDep, now: NowDep,
    axis: Annotated[str | None, Query(max_length=80, description="Axis slug")] = None,
    phase: Annotated[Phase | None, Query()] = None,
    scope: Annotated[ScopeKind | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ConsultationPage:
    axis_id = None
    if axis:
        found = session.exec(select(Axis).where(Axis.slug == axis)).first()
        if found is None:
            raise AxisNotFound()
        axis_id = found.id
    page = service.list_published(session, now=now, axis_id=axis_id, phase=phase,
                                  scope_kind=scope.value if scope else None, limit=limit, offset=offset)
    return ConsultationPage(items=[consultation_out(session, c, now) for c in page.items], total=page.total)


@router.get("/consultations/{consultation_id}", response_model=ConsultationOut)
def get_consultation(consultation_id: int, session: SessionDep, now: NowDep,
                     principal: OptionalPrincipal) -> ConsultationOut:
    return consultation_out(session, service.get(session, consultation_id, principal=principal), now)


@router.post("/consultations", response_model=ConsultationOut, status_code=201,
             summary="Create a consultation (moderators of its axis, admins)")
def create_consultation(data: ConsultationIn, session: SessionDep, now: NowDep,
                        principal: CurrentPrincipal) -> ConsultationOut:
    consultation = service.create(session, principal, data, now=now)
    session.commit()
    return consultation_out(session, consultation, now)


@router.patch("/consultations/{consultation_id}", response_model=ConsultationOut,
              summary="Change a consultation; method and rules are frozen once voting has started")
def update_consultation(consultation_id: int, changes: ConsultationPatch, session: SessionDep, now: NowDep,
                        principal: CurrentPrincipal) -> ConsultationOut:
    consultation = service.get(session, consultation_id, principal=principal)
    service.update(session, principal, consultation, changes, now=now)
    session.commit()
    return consultation_out(session, consultation, now)


@router.post("/consultations/{consultation_id}/publish", response_model=ConsultationOut,
             summary="Publish a draft (moderators of its axis or of the consultation, admins); audited")
def publish_consultation(consultation_id: int, session: SessionDep, now: NowDep,
                         principal: CurrentPrincipal) -> ConsultationOut:
    consultation = service.get_managed(session, principal, consultation_id)
    service.publish(session, principal, consultation, now=now)
    session.commit()
    return consultation_out(session, consultation, now)


@router.post("/consultations/{consultation_id}/archive", response_model=ConsultationOut,
             summary="Archive a published consultation: still readable, closed to participation; audited")
def archive_consultation(consultation_id: int, session: SessionDep, now: NowDep,
                         principal: CurrentPrincipal) -> ConsultationOut:
    consultation = service.get_managed(session, principal, consultation_id)
    service.archive(session, principal, consultation, now=now)
    session.commit()
    return consultation_out(session, consultation, now)
