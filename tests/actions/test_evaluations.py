"""Residents' evaluation of actions (1-5 and a comment), during the follow-up phase only."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.actions import evaluations
from app.actions.models import ActionEvaluation, PublicAction
from app.consultations.models import Consultation
from app.core.errors import Forbidden
from app.voting.models import Channel
from tests.factories import NOW, make_consultation, make_user


def _action(session: Session, consultation: Consultation) -> PublicAction:
    action = PublicAction(consultation_id=consultation.id or 0, title="Rénover la salle des fêtes",
                          owner="Mairie de Liévin", created_at=NOW, updated_at=NOW)
    session.add(action)
    session.flush()
    return action


def _resident(session: Session, **fields: object) -> accounts.Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def test_a_resident_rates_an_action_and_rating_again_replaces_it(session: Session) -> None:
    action = _action(session, make_consultation(session, phase="follow_up"))
    resident = _resident(session)
    evaluations.evaluate(session, resident, action, rating=2, comment="Trop lent", now=NOW)
    evaluations.evaluate(session, resident, action, rating=5, comment="**Enfin** fini", now=NOW + timedelta(days=1))
    session.refresh(action)
    assert (action.ratings_count, action.ratings_sum) == (1, 5)
    summary = evaluations.summary(session, action)
    assert summary.average == 5.0
    assert summary.distribution[5] == 1
    assert summary.distribution[2] == 0
    [comment] = evaluations.public_comments(session, action)
    assert comment.comment_html is not None
    assert "<strong>Enfin</strong>" in comment.comment_html


def test_the_average_follows_every_rating(session: Session) -> None:
    action = _action(session, make_consultation(session, phase="follow_up"))
    for rating in (1, 4, 4, 5):
        evaluations.evaluate(session, _resident(session), action, rating=rating, comment=None, now=NOW)
    summary = evaluations.summary(session, action)
    assert summary.count == 4
    assert summary.average == 3.5


@pytest.mark.parametrize("phase", ["information", "proposals", "voting", "results"])
def test_actions_are_rated_during_follow_up_only(session: Session, phase: str) -> None:
    action = _action(session, make_consultation(session, phase=phase))
    with pytest.raises(evaluations.EvaluationClosed):
        evaluations.evaluate(session, _resident(session), action, rating=3, comment=None, now=NOW)


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_ratings_are_one_to_five(session: Session, rating: int) -> None:
    action = _action(session, make_consultation(session, phase="follow_up"))
    with pytest.raises(evaluations.InvalidEvaluation):
        evaluations.evaluate(session, _resident(session), action, rating=rating, comment=None, now=NOW)


def test_only_eligible_residents_rate(session: Session) -> None:
    # A consultation for Liévin (62510): a resident of Lens (62498) cannot rate its actions.
    consultation = make_consultation(session, phase="follow_up", scope_kind="commune", scope_code="62510")
    action = _action(session, consultation)
    with pytest.raises(Forbidden):
        evaluations.evaluate(session, _resident(session, commune="62498"), action, rating=3, comment=None, now=NOW)
    evaluations.evaluate(session, _resident(session, commune="62510"), action, rating=3, comment=None, now=NOW)


def test_hidden_comments_are_for_moderators_only_and_the_rating_still_counts(session: Session) -> None:
    consultation = make_consultation(session, phase="follow_up")
    action = _action(session, consultation)
    evaluation = evaluations.evaluate(session, _resident(session), action, rating=1, comment="insulte", now=NOW)
    moderator_user = make_user(session)
    accounts.grant_role(session, moderator_user, Role.moderator, now=NOW, axis_id=consultation.axis_id)
    moderator = accounts.load_principal(session, moderator_user)
    with pytest.raises(Forbidden):
        evaluations.set_comment_visibility(session, _resident(session), evaluation, hidden=True, now=NOW)
    evaluations.set_comment_visibility(session, moderator, evaluation, hidden=True, now=NOW)
    assert evaluations.public_comments(session, action) == []
    assert [e.id for e in evaluations.public_comments(session, action, principal=moderator)] == [evaluation.id]
    assert evaluations.summary(session, action).count == 1


def test_erasure_keeps_the_rating_and_cuts_the_link(session: Session) -> None:
    action = _action(session, make_consultation(session, phase="follow_up"))
    user = make_user(session)
    principal = accounts.load_principal(session, user)
    evaluations.evaluate(session, principal, action, rating=4, comment="Bien", now=NOW)
    export = evaluations._export_evaluations(session, user.id or 0)
    assert export[0]["rating"] == 4
    evaluations._unlink_evaluations(session, user.id or 0, NOW)
    session.expire_all()
    [row] = session.exec(select(ActionEvaluation).where(ActionEvaluation.action_id == action.id)).all()
    assert row.user_id is None
    assert row.rating == 4
    assert evaluations.summary(session, action).count == 1


def test_an_assisted_rating_names_the_mediator_in_the_audit_log(session: Session) -> None:
    from app.audit.service import entries_for

    action = _action(session, make_consultation(session, phase="follow_up"))
    mediator_user = make_user(session)
    accounts.grant_role(session, mediator_user, Role.mediator, now=NOW, commune_insee="62510")
    mediator = accounts.load_principal(session, mediator_user)
    resident = _resident(session)
    evaluations.evaluate(session, resident, action, rating=4, comment=None, now=NOW, channel=Channel.assisted,
                         mediator=mediator)
    [entry] = entries_for(session, target_type="action", target_id=action.id)
    assert entry.actor_id == mediator_user.id
    assert entry.channel == "assisted"
