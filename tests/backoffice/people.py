"""The people of the back-office tests, each with one grant (or none), and a small audit log
about consultations of axes 1 and 2, a person, and the acts of each."""

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions.models import ActionEvaluation, ActionUpdate, PublicAction
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.proposals.models import Comment
from app.territory.models import Axis
from tests.factories import NOW, make_consultation, make_proposal, make_user


def axis_id(session: Session, number: int) -> int:
    axis = session.exec(select(Axis).where(Axis.number == number)).one()
    assert axis.id is not None
    return axis.id


def staff(session: Session, role: Role | None, *, name: str | None = None, axis: int | None = None,
          consultation: Consultation | None = None, commune: str | None = None) -> User:
    """A person with one grant: `axis` is an axis number; no scope means the whole platform."""
    user = make_user(session, name=name)
    if role is not None:
        accounts.grant_role(session, user, role, now=NOW, axis_id=axis_id(session, axis) if axis else None,
                            consultation_id=consultation.id if consultation else None, commune_insee=commune)
    return user


@dataclass
class Log:
    """Entries about axis 1 (a consultation, a proposal, a comment, an action, its progress and a
    rating), axis 2 (a consultation, a proposal) and people; `entries` names them."""

    consultation_1: Consultation
    consultation_2: Consultation
    entries: dict[str, AuditEntry]
    admin: User
    moderator_1: User
    moderator_2: User

    def ids(self, *names: str) -> set[int]:
        return {self.entries[name].id or 0 for name in names}


AXIS_1_TARGETS = ("consultation 1", "proposal 1", "comment 1", "action 1", "update 1", "rating 1")
AXIS_2_TARGETS = ("consultation 2", "proposal 2")


def make_log(session: Session) -> Log:
    admin = staff(session, Role.admin, name="Alice Admin")
    moderator_1 = staff(session, Role.moderator, name="Modeste Un", axis=1)
    moderator_2 = staff(session, Role.moderator, name="Modeste Deux", axis=2)
    mediator = staff(session, Role.mediator, name="Médiatrice", commune="62510")
    consultation_1 = make_consultation(session, axis_number=1)
    consultation_2 = make_consultation(session, axis_number=2)
    author = make_user(session)
    proposal_1 = make_proposal(session, consultation_1, author)
    proposal_2 = make_proposal(session, consultation_2, author)
    comment = Comment(proposal_id=proposal_1.id or 0, author_id=author.id or 0, body="Oui", body_html="<p>Oui</p>",
                      created_at=NOW, updated_at=NOW)
    action = PublicAction(consultation_id=consultation_1.id or 0, title="Des bancs", owner="Mairie",
                          created_at=NOW, updated_at=NOW)
    session.add_all([comment, action])
    session.flush()
    update = ActionUpdate(action_id=action.id or 0, occurred_on=NOW.date(), body="Commandés", body_html="<p>C</p>",
                          status="in_progress", progress=10, created_at=NOW)
    rating = ActionEvaluation(action_id=action.id or 0, user_id=author.id, rating=4, created_at=NOW, updated_at=NOW)
    session.add_all([update, rating])
    session.flush()
    plan = [
        # name, actor, action, target type, target, channel, before, after
        ("consultation 1", moderator_1, "consultation.updated", "consultation", consultation_1.id, "online",
         {"title": "Avant", "status": "draft"}, {"title": "Après", "status": "draft"}),
        ("proposal 1", moderator_1, "content.hidden", "proposal", proposal_1.id, "online",
         {"state": "published"}, {"state": "hidden", "reason": "Hors sujet"}),
        ("comment 1", admin, "content.hidden", "comment", comment.id, "online", None, {"reason": "Insultes"}),
        ("action 1", moderator_1, "action.created", "action", action.id, "online", None, {"title": "Des bancs"}),
        ("update 1", moderator_1, "action.progress", "action", action.id, "online", None,
         {"update_id": update.id, "progress": 10}),
        ("rating 1", mediator, "action.evaluated", "evaluation", rating.id, "assisted", None, {"rating": 4}),
        ("consultation 2", moderator_2, "consultation.published", "consultation", consultation_2.id, "online",
         {"status": "draft"}, {"status": "published"}),
        ("proposal 2", mediator, "support.added", "proposal", proposal_2.id, "assisted", None,
         {"voter_id": author.id}),
        ("person", admin, "role.granted", "user", moderator_1.id, "online", None, {"role": "moderator"}),
        # moderator 1 acting on someone: no consultation, but their own act
        ("own act", moderator_1, "user.blocked", "user", author.id, "online", None, {"days": 7}),
    ]
    entries = {}
    for minutes, (name, actor, act, target_type, target_id, channel, before, after) in enumerate(plan):
        entries[name] = audit.record(session, actor_id=actor.id, actor_label=actor.display_name or "", action=act,
                                     target_type=target_type, target_id=target_id, channel=channel,
                                     now=NOW - timedelta(days=len(plan) - minutes), before=before, after=after)
    return Log(consultation_1=consultation_1, consultation_2=consultation_2, entries=entries, admin=admin,
               moderator_1=moderator_1, moderator_2=moderator_2)


