"""/api/v1 endpoints of assisted participation: what a mediator does at the counter, for programs
(e.g. entering the paper forms of a public meeting). The same services as the pages: a mediator
acts only for residents of their communes (403 `/problems/outside-communes`), anyone else is
refused (403 `/problems/not-a-mediator`); every act is audited with the channel `assisted`."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.deps import CurrentPrincipal, RateLimiterDep, limit_writes
from app.assisted import service
from app.assisted.schemas import ResidentIn, ResidentSearch, group_claim_code
from app.consultations import service as consultations
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.proposals.schemas import ProposalDraft
from app.voting import ballots
from app.voting import service as supports
from app.voting.api import BallotIn, BallotOut, SupportOut

router = APIRouter(prefix="/api/v1", tags=["assisted"])

REGISTER_RATE = "60/hour"


def _out(state: supports.SupportState) -> SupportOut:
    return SupportOut(supported=state.supported, supports=state.supports, remaining=state.remaining)


def _ballot_out(view: ballots.BallotView) -> BallotOut:
    return BallotOut(method=view.method, grades=view.grades, proposals=view.proposals, total_cost=view.total_cost,
                     channel=view.channel, cast_at=view.cast_at, updated_at=view.updated_at)


class ResidentOut(BaseModel):
    id: int
    display_name: str | None
    given_name: str | None
    family_name: str | None
    commune_insee: str | None
    birth_year: int | None
    verification_level: str
    verified_at: datetime | None
    has_online_account: bool
    registered_at_counter: bool


def _resident_out(row: service.ResidentRow) -> ResidentOut:
    user = row.user
    assert user.id is not None
    return ResidentOut(id=user.id, display_name=user.display_name, given_name=user.given_name,
                       family_name=user.family_name, commune_insee=user.commune_insee, birth_year=user.birth_year,
                       verification_level=user.verification_level, verified_at=user.verified_at,
                       has_online_account=row.has_online_account,
                       registered_at_counter=user.registered_by_id is not None)


@router.get("/assisted/residents", response_model=list[ResidentOut],
            summary="Find residents of my communes by name (mediators)",
            description="Every word of `name` must appear in the person's names (case and accents do not matter); "
                        "at most 20, by name.")
def find_residents(session: SessionDep, principal: CurrentPrincipal,
                   name: Annotated[str, Query(min_length=1, max_length=200)],
                   birth_year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
                   commune: Annotated[str | None, Query(pattern=r"^\d[\dAB]\d{3}$")] = None) -> list[ResidentOut]:
    rows = service.search_residents(session, principal, ResidentSearch(name, birth_year, commune))
    return [_resident_out(row) for row in rows]


@router.post("/assisted/residents", response_model=ResidentOut, status_code=201,
             summary="Register a resident who is present (mediators)",
             description="No e-mail address. `terms_accepted` must be true: the mediator read the terms of use to "
                         "the person, who accepted them. The residence is recorded as verified by the mediator.")
def register_resident(request: Request, data: ResidentIn, session: SessionDep, now: NowDep,
                      principal: CurrentPrincipal, limiter: RateLimiterDep) -> ResidentOut:
    service.counter_communes(principal)
    limiter.hit(REGISTER_RATE, "write", "assisted-register", str(principal.id))
    terms_version = request.app.state.settings.terms_version
    user = service.register_resident(session, principal, data, terms_version=terms_version, now=now)
    session.commit()
    return _resident_out(service.ResidentRow(user, "", False))


@router.get("/assisted/residents/{user_id}", response_model=ResidentOut, summary="A resident of my communes")
def get_resident(user_id: int, session: SessionDep, principal: CurrentPrincipal) -> ResidentOut:
    return _resident_out(service.resident_row(session, principal, user_id))


@router.post("/assisted/residents/{user_id}/verify", response_model=ResidentOut,
             summary="Record that I checked the resident's residence in person")
def verify_residence(user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> ResidentOut:
    service.verify_residence(session, principal, user_id, now=now)
    session.commit()
    return _resident_out(service.resident_row(session, principal, user_id))


class AssistedProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consultation_id: int
    title: str = Field(min_length=10, max_length=150)
    body: str = Field(min_length=15, max_length=5000)
    commune: str | None = Field(default=None, pattern=r"^\d[\dAB]\d{3}$")
    estimated_cost: int | None = Field(default=None, ge=0, le=1_000_000_000)


class AssistedProposalOut(BaseModel):
    id: int
    consultation_id: int
    author_id: int
    title: str
    state: str
    channel: str


@router.post("/assisted/residents/{user_id}/proposals", response_model=AssistedProposalOut, status_code=201,
             summary="Submit a proposal for the resident",
             description="As the resident would online: proposals phase only, eligible residents only "
                         "(409 `/problems/phase-closed`, 403 `/problems/not-eligible`).")
def submit_proposal(user_id: int, data: AssistedProposalIn, session: SessionDep, now: NowDep,
                    principal: CurrentPrincipal, limiter: RateLimiterDep) -> AssistedProposalOut:
    resident = service.resident_principal(session, principal, user_id)
    consultation = consultations.get(session, data.consultation_id, principal=resident)
    draft = ProposalDraft(title=data.title, body=data.body, commune=data.commune, estimated_cost=data.estimated_cost)
    limit_writes(limiter, resident, "proposal")
    proposal = service.record_proposal(session, principal, user_id, consultation, draft, now=now)
    session.commit()
    assert proposal.id is not None
    return AssistedProposalOut(id=proposal.id, consultation_id=proposal.consultation_id, author_id=proposal.author_id,
                               title=proposal.title, state=proposal.state, channel=proposal.channel)


@router.put("/assisted/residents/{user_id}/supports/{proposal_id}", response_model=SupportOut,
            summary="Record the resident's support for a proposal (idempotent)")
def add_support(user_id: int, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                limiter: RateLimiterDep) -> SupportOut:
    limit_writes(limiter, principal, "vote")
    state = service.record_support(session, principal, user_id, proposal_id, now=now)
    session.commit()
    return _out(state)


@router.delete("/assisted/residents/{user_id}/supports/{proposal_id}", response_model=SupportOut,
               summary="Take back the resident's support (idempotent)")
def remove_support(user_id: int, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                   limiter: RateLimiterDep) -> SupportOut:
    limit_writes(limiter, principal, "vote")
    state = service.withdraw_support(session, principal, user_id, proposal_id, now=now)
    session.commit()
    return _out(state)


@router.put("/assisted/residents/{user_id}/ballots/{consultation_id}", response_model=BallotOut,
            summary="Cast or replace the resident's ballot (majority judgment or budget)")
def put_ballot(user_id: int, consultation_id: int, data: BallotIn, session: SessionDep, now: NowDep,
               principal: CurrentPrincipal, limiter: RateLimiterDep) -> BallotOut:
    limit_writes(limiter, principal, "vote")
    resident = service.resident_principal(session, principal, user_id)
    consultation = consultations.get(session, consultation_id, principal=resident)
    view = service.record_ballot(session, principal, user_id, consultation, grades=data.grades,
                                 proposal_ids=data.proposals, now=now)
    session.commit()
    return _ballot_out(view)


class ClaimCodeOut(BaseModel):
    code: str  # grouped by four, as printed
    expires_at: datetime


@router.post("/assisted/residents/{user_id}/claim-code", response_model=ClaimCodeOut, status_code=201,
             summary="A one-time code with which the resident claims the account",
             description="Shown once (only its hash is kept); an earlier unused code stops working. The resident "
                         "enters it at /compte/reclamer within 30 days. 409 `/problems/has-online-account`.")
def claim_code(user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
               response: Response) -> ClaimCodeOut:
    _user, code, expires_at = service.issue_claim_code(session, principal, user_id, now=now)
    session.commit()
    response.headers["Cache-Control"] = "no-store"
    return ClaimCodeOut(code=group_claim_code(code), expires_at=expires_at)
