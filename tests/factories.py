"""Plain factories for tests: keyword defaults, flush, no commit."""

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User, VerificationLevel
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from app.proposals.search import search_text_of
from app.territory.models import Axis

_numbers = count(1)
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def make_user(session: Session, *, name: str | None = None, commune: str | None = "62510",
              verification: VerificationLevel = VerificationLevel.declared, birth_year: int | None = 1980,
              email: str | None = None, now: datetime = NOW) -> User:
    """An onboarded resident (commune declared, terms accepted) unless told otherwise."""
    n = next(_numbers)
    user = accounts.create_user(session, display_name=name or f"Habitant {n}", email=email or f"h{n}@example.fr",
                                is_email_confirmed=True, commune_insee=commune, birth_year=birth_year, now=now)
    user.verification_level = verification if commune else VerificationLevel.none
    user.terms_version = "test"
    user.terms_accepted_at = now
    session.add(user)
    session.flush()
    return user


def phase_dates(phase: str, now: datetime = NOW) -> dict[str, datetime]:
    """Phase starts putting `now` in the middle of `phase` (each phase lasts ten days)."""
    order = ["information", "proposals", "voting", "results", "follow_up"]
    index = order.index(phase)
    start = now - timedelta(days=5) - timedelta(days=10 * index)
    return {f"{name}_starts_at": start + timedelta(days=10 * i) for i, name in enumerate(order)}


def make_consultation(session: Session, *, phase: str = "voting", axis_number: int = 1, scope_kind: str = "basin",
                      scope_code: str | None = None, voting_method: str = "support", max_supports: int = 0,
                      status: str = "published", now: datetime = NOW, **fields: object) -> Consultation:
    axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
    n = next(_numbers)
    consultation = Consultation(
        slug=f"consultation-{n}", title=f"Consultation {n}", summary="Une consultation pour les tests.",
        axis_id=axis.id, scope_kind=scope_kind, scope_code=scope_code, voting_method=voting_method,
        max_supports=max_supports, status=status, created_at=now, updated_at=now,
        **phase_dates(phase, now), **fields,
    )
    session.add(consultation)
    session.flush()
    return consultation


def make_proposal(session: Session, consultation: Consultation, author: User, *, title: str | None = None,
                  body: str = "Une proposition détaillée pour le quartier.", now: datetime = NOW,
                  **fields: object) -> Proposal:
    n = next(_numbers)
    title = title or f"Proposition numéro {n}"
    proposal = Proposal(consultation_id=consultation.id, author_id=author.id, title=title, body=body,
                        body_html=f"<p>{body}</p>", search_text=search_text_of(title, body), created_at=now,
                        updated_at=now, **fields)
    session.add(proposal)
    session.flush()
    return proposal


def bearer(session: Session, user: User) -> dict[str, str]:
    """An Authorization header with a new access token of `user` (flushed)."""
    _token, raw = accounts.create_access_token(session, user, name="tests", now=NOW)
    session.flush()
    return {"Authorization": f"Bearer {raw}"}


def someone(session: Session, **fields: Any) -> dict[str, str]:
    """The Authorization header of a new resident (make_user's fields)."""
    return bearer(session, make_user(session, **fields))


def moderator(session: Session, axis_number: int = 1) -> dict[str, str]:
    """The Authorization header of a new moderator of this axis."""
    user = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return bearer(session, user)
