"""People of the back office for the tests of answers, actions and merges: moderators scoped to an
axis or a consultation, and an evaluator, as principals loaded from the database."""

from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.territory.models import Axis
from tests.factories import NOW, make_user


def axis_id(session: Session, number: int) -> int:
    axis = session.exec(select(Axis).where(Axis.number == number)).one()
    assert axis.id is not None
    return axis.id


def principal(session: Session, user: User) -> Principal:
    return accounts.load_principal(session, user)


def staff(session: Session, role: Role = Role.moderator, *, axis: int | None = 1,
          consultation_id: int | None = None) -> Principal:
    """A person with one grant: of an axis (by number), of a consultation, or platform-wide (axis=None)."""
    user = make_user(session, name=f"{role.value.capitalize()} de test")
    if consultation_id is not None:
        accounts.grant_role(session, user, role, now=NOW, consultation_id=consultation_id)
    elif axis is not None:
        accounts.grant_role(session, user, role, now=NOW, axis_id=axis_id(session, axis))
    else:
        accounts.grant_role(session, user, role, now=NOW)
    return principal(session, user)
