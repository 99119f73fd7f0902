"""The moderation queue and its acts (service and API): reported items and proposals awaiting
approval, oldest first, only within the moderator's scope; hide (with a reason), restore, approve,
one by one or in bulk; each act closes the item's reports, leaves its audit entry, notifies the
author and keeps the comments count right."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.audit import service as audit
from app.consultations.models import Consultation
from app.moderation import service
from app.moderation.models import Report, ReportReason
from app.notifications.models import Notification
from app.proposals import service as proposals
from app.proposals.models import Comment, Proposal
from app.proposals.schemas import CommentDraft
from app.territory.models import Axis
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.support import problem


def principal_of(session: Session, user: User) -> Principal:
    return accounts.load_principal(session, user)


def resident(session: Session) -> Principal:
    return principal_of(session, make_user(session))


def staff(session: Session, role: Role = Role.moderator, axis_number: int | None = 1,
          consultation: Consultation | None = None) -> Principal:
    user = make_user(session)
    if consultation is not None:
        accounts.grant_role(session, user, role, now=NOW, consultation_id=consultation.id)
    elif axis_number is not None:
        axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
        accounts.grant_role(session, user, role, now=NOW, axis_id=axis.id)
    else:
        accounts.grant_role(session, user, role, now=NOW)
    return principal_of(session, user)


def report(session: Session, target: Proposal | Comment, *, minutes: int = 0,
           reason: ReportReason = ReportReason.offensive, text: str | None = None) -> Report:
    kind = "proposal" if isinstance(target, Proposal) else "comment"
    entry = service.report(session, resident(session), target_type=kind, target_id=target.id or 0, reason=reason,
                           text=text, now=NOW + timedelta(minutes=minutes), threshold=99)
    return entry


def comment_on(session: Session, proposal: Proposal, author: User | None = None) -> Comment:
    who = principal_of(session, author) if author else resident(session)
    return proposals.add_comment(session, who, proposal, CommentDraft(body="Un commentaire désobligeant."), now=NOW)


def notifications_of(session: Session, user_id: int) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.user_id == user_id)
                             .order_by(Notification.id)))  # type: ignore[arg-type]


def actions_on(session: Session, target_type: str, target_id: object) -> list[str]:
    return [e.action for e in audit.entries_for(session, target_type=target_type, target_id=target_id)]


# --- the queue


def test_the_queue_lists_reported_items_and_pending_proposals_oldest_first(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", is_premoderated=True)
    author = make_user(session, name="Camille Auteur")
    older = make_proposal(session, consultation, author, title="Une proposition signalée tôt")
    newer = make_proposal(session, consultation, author, title="Une proposition signalée tard")
    comment = comment_on(session, older)
    report(session, newer, minutes=30)
    report(session, older, minutes=10, text="Insultant")
    report(session, older, minutes=20, reason=ReportReason.spam)
    report(session, comment, minutes=15)
    pending = make_proposal(session, consultation, author, state="pending", now=NOW + timedelta(minutes=12))

    moderator = staff(session)
    found = service.queue(session, moderator)
    assert [item.key for item in found.items] == [
        f"proposal:{older.id}", f"proposal:{pending.id}", f"comment:{comment.id}", f"proposal:{newer.id}"]
    assert (found.reported, found.pending, found.total) == (3, 1, 4)
    first = found.items[0]
    assert (first.kind, first.author_name, first.consultation.id) == ("reported", "Camille Auteur", consultation.id)
    assert [r.reason for r in first.reports] == ["offensive", "spam"]
    assert first.reasons == {"offensive": 1, "spam": 1}
    assert found.items[1].kind == "pending"
    assert [i.key for i in service.queue(session, moderator, kind="pending").items] == [f"proposal:{pending.id}"]
    assert len(service.queue(session, moderator, kind="reported").items) == 3
    assert [i.key for i in service.queue(session, moderator, limit=2, offset=1).items] == [
        f"proposal:{pending.id}", f"comment:{comment.id}"]
    # A resolved report leaves the queue.
    service.restore(session, moderator, "proposal", newer.id or 0, now=NOW)
    assert f"proposal:{newer.id}" not in [i.key for i in service.queue(session, moderator).items]


def test_a_moderator_sees_and_acts_only_within_their_scope(session: Session) -> None:
    mine = make_consultation(session, axis_number=1, is_premoderated=True)
    other = make_consultation(session, axis_number=2, is_premoderated=True)
    ours = make_proposal(session, mine, make_user(session))
    theirs = make_proposal(session, other, make_user(session))
    their_comment = comment_on(session, theirs)
    their_pending = make_proposal(session, other, make_user(session), state="pending")
    report(session, ours)
    report(session, theirs)
    report(session, their_comment)

    axis_one = staff(session, axis_number=1)
    assert [i.key for i in service.queue(session, axis_one).items] == [f"proposal:{ours.id}"]
    assert service.queue(session, axis_one, consultation_id=other.id).items == []
    for act in (lambda: service.hide(session, axis_one, "proposal", theirs.id or 0, reason="Non.", now=NOW),
                lambda: service.hide(session, axis_one, "comment", their_comment.id or 0, reason="Non.", now=NOW),
                lambda: service.restore(session, axis_one, "proposal", theirs.id or 0, now=NOW),
                lambda: service.approve(session, axis_one, "proposal", their_pending.id or 0, now=NOW)):
        with pytest.raises(service.NotModerator):
            act()
    assert (theirs.state, their_comment.state, their_pending.state) == ("published", "published", "pending")

    of_the_consultation = staff(session, consultation=other)
    assert {i.key for i in service.queue(session, of_the_consultation).items} == {
        f"proposal:{theirs.id}", f"comment:{their_comment.id}", f"proposal:{their_pending.id}"}
    everywhere = staff(session, axis_number=None)
    admin = staff(session, Role.admin, axis_number=None)
    for principal in (everywhere, admin):
        assert len(service.queue(session, principal).items) == 4


@pytest.mark.parametrize("role", [Role.evaluator, Role.mediator, Role.resident])
def test_those_who_moderate_nowhere_see_nothing_and_change_nothing(session: Session, role: Role) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session))
    report(session, proposal)
    principal = staff(session, role) if role != Role.resident else resident(session)
    with pytest.raises(service.NotModerator):
        service.queue(session, principal)
    for act in (lambda: service.hide(session, principal, "proposal", proposal.id or 0, reason="Non.", now=NOW),
                lambda: service.restore(session, principal, "proposal", proposal.id or 0, now=NOW),
                lambda: service.approve(session, principal, "proposal", proposal.id or 0, now=NOW),
                lambda: service.bulk(session, principal, "hide", [f"proposal:{proposal.id}"], reason="x", now=NOW),
                lambda: service.block(session, principal, proposal.author_id, until=NOW + timedelta(days=1),
                                      reason="x", now=NOW)):
        with pytest.raises(service.NotModerator):
            act()
    assert proposal.state == "published"
    assert actions_on(session, "proposal", proposal.id) == []


# --- hide, restore, approve


def test_hiding_a_proposal_keeps_it_closes_its_reports_audits_and_tells_the_author(session: Session) -> None:
    consultation = make_consultation(session)
    author = make_user(session)
    proposal = make_proposal(session, consultation, author, title="Une proposition injurieuse")
    first, second = report(session, proposal), report(session, proposal, minutes=1)
    moderator = staff(session)

    with pytest.raises(service.ReasonRequired):
        service.hide(session, moderator, "proposal", proposal.id or 0, reason="   ", now=NOW)
    service.hide(session, moderator, "proposal", proposal.id or 0, reason="  Propos   injurieux envers un élu. ",
                 now=NOW)
    assert (proposal.state, proposal.moderation_reason, proposal.moderated_at) == (
        "hidden", "Propos injurieux envers un élu.", NOW)
    for entry in (first, second):
        session.refresh(entry)
        assert (entry.resolved_at, entry.resolved_by_id, entry.resolution) == (NOW, moderator.id, "hidden")
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=proposal.id)
    assert (entry.action, entry.actor_id, entry.before, entry.after) == (
        "content.hidden", moderator.id, {"state": "published", "reason": None},
        {"state": "hidden", "reason": "Propos injurieux envers un élu.", "reports_resolved": 2})
    (note,) = notifications_of(session, author.id or 0)
    assert (note.kind, note.target_type, note.target_id, note.url, note.body) == (
        "content_hidden", "proposal", proposal.id, f"/propositions/{proposal.id}", "Propos injurieux envers un élu.")
    assert "Une proposition injurieuse" in note.title

    service.restore(session, moderator, "proposal", proposal.id or 0, now=NOW)
    assert (proposal.state, proposal.moderation_reason) == ("published", None)
    assert actions_on(session, "proposal", proposal.id) == ["content.hidden", "content.restored"]
    assert [n.kind for n in notifications_of(session, author.id or 0)] == ["content_hidden", "content_restored"]
    with pytest.raises(service.CannotModerate):  # nothing hidden, nothing reported: nothing to restore
        service.restore(session, moderator, "proposal", proposal.id or 0, now=NOW)


@pytest.mark.parametrize("state", ["withdrawn", "evaluating", "pending", "accepted"])
def test_a_restored_proposal_gets_back_the_state_it_had(session: Session, state: str) -> None:
    consultation = make_consultation(session, is_premoderated=state == "pending")
    proposal = make_proposal(session, consultation, make_user(session), state=state,
                             withdrawn_at=NOW if state == "withdrawn" else None)
    moderator = staff(session)
    service.hide(session, moderator, "proposal", proposal.id or 0, reason="Données personnelles.", now=NOW)
    assert proposal.state == "hidden"
    service.hide(session, moderator, "proposal", proposal.id or 0, reason="Confirmé.", now=NOW)  # a new reason
    assert proposal.moderation_reason == "Confirmé."
    service.restore(session, moderator, "proposal", proposal.id or 0, now=NOW)
    assert proposal.state == state


def test_a_withdrawn_proposal_can_be_hidden_and_a_hidden_one_cannot_be_withdrawn(session: Session) -> None:
    """Withdrawn proposals stay public: moderators (and the reports threshold) must be able to hide them;
    and withdrawing a hidden one would make it public again."""
    consultation = make_consultation(session)
    author = make_user(session)
    withdrawn = make_proposal(session, consultation, author, state="withdrawn", withdrawn_at=NOW)
    for minutes in range(3):
        service.report(session, resident(session), target_type="proposal", target_id=withdrawn.id or 0,
                       reason=ReportReason.offensive, text=None, now=NOW + timedelta(minutes=minutes), threshold=3)
    assert withdrawn.state == "hidden"
    assert actions_on(session, "proposal", withdrawn.id) == ["content.hidden"]
    service.restore(session, staff(session), "proposal", withdrawn.id or 0, now=NOW)
    assert withdrawn.state == "withdrawn"

    running = make_proposal(session, consultation, author)
    service.hide(session, staff(session), "proposal", running.id or 0, reason="Hors charte.", now=NOW)
    with pytest.raises(proposals.CannotWithdraw):
        proposals.withdraw(session, principal_of(session, author), running, now=NOW)
    assert running.state == "hidden"


def test_hiding_and_restoring_comments_keeps_the_count_right(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = make_user(session)
    first = comment_on(session, proposal, author)
    second = comment_on(session, proposal)
    report(session, first)
    session.refresh(proposal)
    assert proposal.comments_count == 2
    moderator = staff(session)

    service.hide(session, moderator, "comment", first.id or 0, reason="Insulte.", now=NOW)
    session.refresh(proposal)
    assert (first.state, first.moderation_reason, proposal.comments_count) == ("hidden", "Insulte.", 1)
    service.hide(session, moderator, "comment", first.id or 0, reason="Insulte confirmée.", now=NOW)
    session.refresh(proposal)
    assert (first.moderation_reason, proposal.comments_count) == ("Insulte confirmée.", 1)
    (note, _again) = notifications_of(session, author.id or 0)
    assert (note.kind, note.target_type, note.url) == (
        "content_hidden", "comment", f"/propositions/{proposal.id}#comment-{first.id}")

    service.restore(session, moderator, "comment", first.id or 0, now=NOW)
    session.refresh(proposal)
    assert (first.state, proposal.comments_count) == ("published", 2)

    service.hide(session, moderator, "comment", second.id or 0, reason="Spam.", now=NOW)
    proposals.delete_comment(session, principal_of(session, session.get(User, second.author_id)), second, now=NOW)
    session.refresh(proposal)
    assert proposal.comments_count == 1  # hidden, then deleted: counted out once
    with pytest.raises(service.CannotModerate):
        service.hide(session, moderator, "comment", second.id or 0, reason="Spam.", now=NOW)
    assert actions_on(session, "comment", first.id) == ["content.hidden", "content.hidden", "content.restored"]


def test_approving_publishes_a_pending_proposal(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", is_premoderated=True)
    author = make_user(session)
    pending = make_proposal(session, consultation, author, state="pending", title="Des bancs au parc")
    moderator = staff(session)
    service.approve(session, moderator, "proposal", pending.id or 0, now=NOW)
    assert (pending.state, pending.moderated_at) == ("published", NOW)
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=pending.id)
    assert (entry.action, entry.before, entry.after) == (
        "content.approved", {"state": "pending"}, {"state": "published", "reports_resolved": 0})
    (note,) = notifications_of(session, author.id or 0)
    assert (note.kind, note.url) == ("content_restored", f"/propositions/{pending.id}")
    assert "Des bancs au parc" in note.title
    with pytest.raises(service.CannotModerate):
        service.approve(session, moderator, "proposal", pending.id or 0, now=NOW)
    with pytest.raises(service.CannotModerate):
        service.approve(session, moderator, "comment", comment_on(session, pending).id or 0, now=NOW)


def test_bulk_acts_check_and_audit_each_item(session: Session) -> None:
    mine = make_consultation(session, axis_number=1, is_premoderated=True)
    other = make_consultation(session, axis_number=2)
    a = make_proposal(session, mine, make_user(session))
    b = make_proposal(session, mine, make_user(session))
    c = comment_on(session, a)
    outside = make_proposal(session, other, make_user(session))
    moderator = staff(session)
    with pytest.raises(service.NothingSelected):
        service.bulk(session, moderator, "hide", [], reason="Spam.", now=NOW)
    with pytest.raises(service.ReasonRequired):
        service.bulk(session, moderator, "hide", [f"proposal:{a.id}"], reason=" ", now=NOW)
    outcome = service.bulk(session, moderator, "hide",
                           [f"proposal:{a.id}", f"proposal:{b.id}", f"comment:{c.id}", f"proposal:{outside.id}",
                            "proposal:abc", f"proposal:{a.id}"], reason="Spam répété.", now=NOW)
    assert outcome.done == [f"proposal:{a.id}", f"proposal:{b.id}", f"comment:{c.id}"]
    assert [key for key, _why in outcome.refused] == [f"proposal:{outside.id}", "proposal:abc"]
    assert (a.state, b.state, outside.state) == ("hidden", "hidden", "published")
    session.refresh(c)
    assert c.state == "hidden"
    for target_type, target in (("proposal", a), ("proposal", b), ("comment", c)):
        assert actions_on(session, target_type, target.id) == ["content.hidden"]
    assert actions_on(session, "proposal", outside.id) == []

    pending = [make_proposal(session, mine, make_user(session), state="pending") for _ in range(2)]
    outcome = service.bulk(session, moderator, "approve", [f"proposal:{p.id}" for p in pending] + [f"comment:{c.id}"],
                           now=NOW)
    assert (len(outcome.done), len(outcome.refused)) == (2, 1)
    assert [p.state for p in pending] == ["published", "published"]
    outcome = service.bulk(session, moderator, "restore", [f"proposal:{a.id}", f"comment:{c.id}"], now=NOW)
    assert outcome.done == [f"proposal:{a.id}", f"comment:{c.id}"]
    session.refresh(a)
    assert a.state == "published"


# --- the API


@pytest.fixture
def api(app: FastAPI, client: TestClient) -> TestClient:
    app.state.clock = lambda: NOW
    return client


def moderator_headers(session: Session, axis_number: int = 1) -> tuple[dict[str, str], User]:
    user = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return bearer(session, user), user


def test_the_queue_api(session: Session, api: TestClient) -> None:
    consultation = make_consultation(session, is_premoderated=True)
    proposal = make_proposal(session, consultation, make_user(session, name="Dominique"), title="Un titre signalé")
    report(session, proposal, text="Injurieux")
    pending = make_proposal(session, consultation, make_user(session), state="pending", now=NOW + timedelta(hours=1))
    headers, _user = moderator_headers(session)
    evaluator = make_user(session)
    accounts.grant_role(session, evaluator, Role.evaluator, now=NOW)
    session.commit()

    data = api.get("/api/v1/moderation/queue", headers=headers).json()
    assert (data["reported"], data["pending"], data["total"]) == (1, 1, 2)
    first = data["items"][0]
    assert (first["kind"], first["target_type"], first["target_id"], first["author"], first["title"]) == (
        "reported", "proposal", proposal.id, "Dominique", "Un titre signalé")
    assert [(r["reason"], r["text"]) for r in first["reports"]] == [("offensive", "Injurieux")]
    assert data["items"][1]["target_id"] == pending.id
    assert api.get("/api/v1/moderation/queue?kind=pending", headers=headers).json()["total"] == 1
    assert api.get("/api/v1/moderation/queue?kind=nope", headers=headers).status_code == 422
    other_headers, _ = moderator_headers(session, axis_number=2)
    session.commit()
    assert api.get("/api/v1/moderation/queue", headers=other_headers).json()["items"] == []
    problem(api.get("/api/v1/moderation/queue", headers=bearer(session, evaluator)), 403, "/problems/not-moderator")
    problem(api.get("/api/v1/moderation/queue", headers=bearer(session, make_user(session))), 403,
            "/problems/not-moderator")
    assert api.get("/api/v1/moderation/queue").status_code == 401


def test_hide_restore_approve_through_the_api(session: Session, api: TestClient) -> None:
    consultation = make_consultation(session, is_premoderated=True)
    proposal = make_proposal(session, consultation, make_user(session))
    comment = comment_on(session, proposal)
    pending = make_proposal(session, consultation, make_user(session), state="pending")
    outside = make_proposal(session, make_consultation(session, axis_number=2), make_user(session))
    headers, moderator_user = moderator_headers(session)
    resident_headers = bearer(session, make_user(session))
    session.commit()

    url = f"/api/v1/moderation/proposal/{proposal.id}"
    problem(api.post(f"{url}/hide", json={"reason": "   "}, headers=headers), 422, "/problems/reason-required")
    assert api.post(f"{url}/hide", json={}, headers=headers).status_code == 422
    problem(api.post(f"{url}/hide", json={"reason": "Hors charte."}, headers=resident_headers), 403,
            "/problems/not-moderator")
    problem(api.post(f"/api/v1/moderation/proposal/{outside.id}/hide", json={"reason": "x"}, headers=headers), 403,
            "/problems/not-moderator")
    problem(api.post("/api/v1/moderation/proposal/999999/hide", json={"reason": "x"}, headers=headers), 404)
    assert api.post("/api/v1/moderation/vote/1/hide", json={"reason": "x"}, headers=headers).status_code == 422

    response = api.post(f"{url}/hide", json={"reason": "Hors charte."}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"target_type": "proposal", "target_id": proposal.id, "state": "hidden",
                               "moderation_reason": "Hors charte."}
    assert api.get(f"/api/v1/proposals/{proposal.id}").status_code == 404
    assert api.post(f"{url}/restore", headers=headers).json()["state"] == "published"
    hidden = api.post(f"/api/v1/moderation/comment/{comment.id}/hide", json={"reason": "Injure."}, headers=headers)
    assert hidden.json()["state"] == "hidden"
    problem(api.post(f"/api/v1/moderation/comment/{comment.id}/approve", headers=headers), 409,
            "/problems/cannot-moderate")
    assert api.post(f"/api/v1/moderation/proposal/{pending.id}/approve", headers=headers).json()["state"] == \
        "published"
    bulk = api.post("/api/v1/moderation/bulk", headers=headers,
                    json={"action": "restore", "items": [f"comment:{comment.id}", f"proposal:{outside.id}"]})
    assert bulk.status_code == 200
    assert bulk.json()["done"] == [f"comment:{comment.id}"]
    assert [r["item"] for r in bulk.json()["refused"]] == [f"proposal:{outside.id}"]
    assert [e.actor_id for e in audit.entries_for(session, target_type="proposal", target_id=proposal.id)] == [
        moderator_user.id, moderator_user.id]


def test_a_page_of_the_queue_takes_a_few_queries_whatever_its_length(session: Session, engine: object) -> None:
    from tests.support import statements

    consultation = make_consultation(session, is_premoderated=True)
    for _ in range(12):
        proposal = make_proposal(session, consultation, make_user(session))
        report(session, proposal)
        report(session, comment_on(session, proposal))
        make_proposal(session, consultation, make_user(session), state="pending")
    moderator_id = staff(session).id
    session.commit()
    session.expunge_all()  # nothing in the identity map: every row comes from the queries counted
    moderator = principal_of(session, session.get(User, moderator_id))  # type: ignore[arg-type]
    with statements(engine) as seen:  # type: ignore[arg-type]
        found = service.queue(session, moderator, limit=36)
        assert len(found.items) == 36
        assert {item.author_name for item in found.items}
    assert len(seen) <= 10, seen


def test_hidden_items_are_listed_apart_the_last_hidden_first(session: Session, api: TestClient) -> None:
    mine = make_consultation(session, axis_number=1)
    other = make_consultation(session, axis_number=2)
    moderator = staff(session)
    first = make_proposal(session, mine, make_user(session))
    second = make_proposal(session, mine, make_user(session))
    comment = comment_on(session, second)
    theirs = make_proposal(session, other, make_user(session), state="hidden")
    service.hide(session, moderator, "proposal", first.id or 0, reason="Spam.", now=NOW - timedelta(hours=2))
    service.hide(session, moderator, "comment", comment.id or 0, reason="Injure.", now=NOW - timedelta(hours=1))
    service.hide(session, moderator, "proposal", second.id or 0, reason="Hors sujet.", now=NOW)
    found = service.queue(session, moderator, kind="hidden")
    assert [item.key for item in found.items] == [f"proposal:{second.id}", f"comment:{comment.id}",
                                                  f"proposal:{first.id}"]
    assert (found.hidden, found.total, found.reported, found.pending) == (3, 3, 0, 0)
    assert {item.kind for item in found.items} == {"hidden"}
    assert found.items[0].moderation_reason == "Hors sujet."
    assert f"proposal:{theirs.id}" not in [item.key for item in service.queue(session, moderator, kind="hidden").items]
    assert service.queue(session, moderator).hidden == 3  # counted beside the lists to handle
    assert service.queue(session, moderator).items == []  # but not in them
    service.restore(session, moderator, "comment", comment.id or 0, now=NOW)
    assert service.queue(session, moderator, kind="hidden").hidden == 2

    headers, _user = moderator_headers(session)
    session.commit()
    data = api.get("/api/v1/moderation/queue?kind=hidden", headers=headers).json()
    assert [(i["kind"], i["target_id"], i["moderation_reason"]) for i in data["items"]] == [
        ("hidden", second.id, "Hors sujet."), ("hidden", first.id, "Spam.")]
