"""Actions: created and edited by the moderators of their consultation only; dated progress updates
move the action's status and progress in the same transaction (the latest by date wins), are
audited and notify the followers of the action and of its proposals; the public lists and reads
the actions of published consultations only."""

from datetime import date

import pytest
from sqlmodel import Session, col, select

from app.accounts.models import Role
from app.actions import service
from app.actions.models import ActionUpdate, PublicAction
from app.actions.schemas import ActionDraft, ActionPatch, UpdateDraft
from app.audit import service as audit
from app.consultations.models import Consultation
from app.core.errors import Forbidden
from app.notifications import service as notifications
from app.notifications.models import FollowTarget, Notification, NotificationKind
from tests.actions.helpers import axis_id, principal, staff
from tests.factories import NOW, make_consultation, make_proposal, make_user

DRAFT = ActionDraft(title="Un jardin partagé rue Voltaire", owner="Ville de Liévin", budget=15000,
                    planned_start=date(2027, 4, 1), planned_end=date(2027, 10, 1), description="Avec les **écoles**.")


def update(day: int, status: str = "in_progress", progress: int = 30) -> UpdateDraft:
    return UpdateDraft(occurred_on=date(2027, 2, day), body=f"Le chantier avance, étape du {day} février.",
                       status=status, progress=progress)


@pytest.fixture
def consultation(session: Session) -> Consultation:
    return make_consultation(session, axis_number=1, phase="follow_up")


@pytest.fixture
def action(session: Session, consultation: Consultation) -> PublicAction:
    return service.create_action(session, staff(session, axis=1), consultation, DRAFT, [], now=NOW)


def test_create_with_its_accepted_proposals(session: Session, consultation: Consultation) -> None:
    moderator = staff(session, axis=1)
    accepted = make_proposal(session, consultation, make_user(session), state="accepted")
    item = service.create_action(session, moderator, consultation, DRAFT, [accepted.id or 0], now=NOW)
    assert (item.status, item.progress) == ("planned", 0)
    assert item.description_html == "<p>Avec les <strong>écoles</strong>.</p>\n"
    assert service.proposal_ids_of(session, item) == [accepted.id]
    (entry,) = audit.entries_for(session, target_type="action", target_id=item.id)
    assert (entry.action, entry.actor_id, entry.after["proposal_ids"]) == ("action.created", moderator.id,
                                                                           [accepted.id])
    published = make_proposal(session, consultation, make_user(session))
    with pytest.raises(service.InvalidAction):
        service.create_action(session, moderator, consultation, DRAFT, [published.id or 0], now=NOW)
    elsewhere = make_proposal(session, make_consultation(session, axis_number=1), make_user(session),
                              state="accepted")
    with pytest.raises(service.InvalidAction):
        service.create_action(session, moderator, consultation, DRAFT, [elsewhere.id or 0], now=NOW)


@pytest.mark.parametrize("who", ["moderator of axis 2", "evaluator", "evaluator of axis 1", "mediator", "resident"])
def test_only_its_moderators_manage_actions(session: Session, consultation: Consultation, action: PublicAction,
                                            who: str) -> None:
    person = {
        "moderator of axis 2": lambda: staff(session, axis=2),
        "evaluator": lambda: staff(session, Role.evaluator, axis=None),
        "evaluator of axis 1": lambda: staff(session, Role.evaluator, axis=1),
        "mediator": lambda: staff(session, Role.mediator, axis=None),
        "resident": lambda: principal(session, make_user(session)),
    }[who]()
    with pytest.raises(Forbidden):
        service.create_action(session, person, consultation, DRAFT, [], now=NOW)
    with pytest.raises(Forbidden):
        service.edit_action(session, person, action, ActionPatch(title="Un autre titre"), now=NOW)
    with pytest.raises(Forbidden):
        service.add_update(session, person, action, update(10), now=NOW)
    session.refresh(action)
    assert (action.title, action.status) == (DRAFT.title, "planned")
    assert [e.action for e in audit.entries_for(session, target_type="action", target_id=action.id)] == [
        "action.created"]


def test_edit_is_audited(session: Session, consultation: Consultation, action: PublicAction) -> None:
    moderator = staff(session, consultation_id=consultation.id)
    service.edit_action(session, moderator, action, ActionPatch(owner="Communauté d’agglomération", budget=None),
                        now=NOW)
    assert (action.owner, action.budget) == ("Communauté d’agglomération", None)
    entry = audit.entries_for(session, target_type="action", target_id=action.id)[-1]
    assert entry.action == "action.edited"
    assert (entry.before["owner"], entry.after["owner"], entry.before["budget"], entry.after["budget"]) == (
        "Ville de Liévin", "Communauté d’agglomération", 15000, None)
    with pytest.raises(service.InvalidAction):
        service.edit_action(session, moderator, action, ActionPatch(planned_end=date(2027, 1, 1)), now=NOW)


def test_progress_updates_move_the_action(session: Session, action: PublicAction) -> None:
    moderator = staff(session, axis=1)
    service.add_update(session, moderator, action, update(10, "in_progress", 30), now=NOW)
    assert (action.status, action.progress) == ("in_progress", 30)
    service.add_update(session, moderator, action, update(20, "done", 100), now=NOW)
    assert (action.status, action.progress) == ("done", 100)
    # A backdated update joins the timeline without turning the action back.
    service.add_update(session, moderator, action, update(1, "in_progress", 10), now=NOW)
    assert (action.status, action.progress) == ("done", 100)
    assert [u.occurred_on.day for u in service.updates_of(session, action)] == [20, 10, 1]
    entries = [e for e in audit.entries_for(session, target_type="action", target_id=action.id)
               if e.action == "action.progress"]
    assert [(e.before, {k: e.after[k] for k in ("status", "progress")}) for e in entries] == [
        ({"status": "planned", "progress": 0}, {"status": "in_progress", "progress": 30}),
        ({"status": "in_progress", "progress": 30}, {"status": "done", "progress": 100}),
        ({"status": "done", "progress": 100}, {"status": "done", "progress": 100}),
    ]
    with pytest.raises(service.InvalidAction):  # not in the future
        service.add_update(session, moderator, action, UpdateDraft(
            occurred_on=date(2027, 3, 2), body="Ce qui se passera demain.", status="done", progress=100), now=NOW)
    assert len(service.updates_of(session, action)) == 3


def test_progress_notifies_followers_of_the_action_and_of_its_proposals(session: Session,
                                                                        consultation: Consultation) -> None:
    moderator = staff(session, axis=1)
    proposal = make_proposal(session, consultation, make_user(session))
    item = service.answer(session, moderator, proposal, state="accepted", text="Retenue : la ville s’en charge.",
                          now=NOW).action
    assert item is not None
    of_action, of_proposal, neither = make_user(session), make_user(session), make_user(session)
    notifications.follow(session, of_action.id or 0, FollowTarget.action, item.id or 0, now=NOW)
    notifications.follow(session, of_proposal.id or 0, FollowTarget.proposal, proposal.id or 0, now=NOW)
    service.add_update(session, moderator, item, update(15, "in_progress", 40), now=NOW)
    notes = session.exec(select(Notification).where(Notification.kind == NotificationKind.action_progress,
                                                    Notification.target_id == item.id)).all()
    assert {n.user_id for n in notes} == {of_action.id, of_proposal.id}
    assert all((n.url, n.target_type) == (f"/actions/{item.id}", "action") for n in notes)
    assert all("40 %" in n.title for n in notes)
    assert session.exec(select(Notification).where(col(Notification.user_id) == neither.id)).all() == []


def test_listing_and_reading(session: Session, consultation: Consultation, action: PublicAction) -> None:
    other_axis = make_consultation(session, axis_number=2)
    moderator_2 = staff(session, axis=2)
    done = service.create_action(session, moderator_2, other_axis, DRAFT, [], now=NOW)
    service.add_update(session, moderator_2, done, update(3, "done", 100), now=NOW)
    draft = make_consultation(session, axis_number=1, status="draft")
    hidden = service.create_action(session, staff(session, axis=1), draft, DRAFT, [], now=NOW)

    def ids(**filters: object) -> set[int]:
        return {row.action.id or 0 for row in service.list_actions(session, limit=100, **filters).items}

    everything = ids()
    assert {action.id, done.id} <= everything
    assert hidden.id not in everything
    assert action.id in ids(axis_id=axis_id(session, 1))
    assert done.id not in ids(axis_id=axis_id(session, 1))
    assert done.id in ids(status="done")
    assert action.id not in ids(status="done")
    assert ids(consultation_id=other_axis.id) == {done.id}
    assert service.get_action(session, action.id or 0).id == action.id
    with pytest.raises(service.ActionNotFound):
        service.get_action(session, hidden.id or 0)
    assert service.get_action(session, hidden.id or 0, principal=staff(session, axis=1)).id == hidden.id
    assert session.exec(select(ActionUpdate).where(ActionUpdate.action_id == done.id)).one().progress == 100
