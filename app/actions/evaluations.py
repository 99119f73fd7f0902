"""Residents' evaluation of actions: during the follow-up phase of the action's consultation, each
eligible resident rates an action from 1 to 5 and may say why. Rating again replaces the rating;
the action's counters move in the same transaction, so its average is always the ratings'."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.policy import Action, Principal, can
from app.accounts.service import export_section, on_erasure
from app.actions.models import ActionEvaluation, PublicAction
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Phase
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_
from app.core.markdown import render_markdown
from app.voting.models import Channel

MAX_COMMENT = 2000


class ActionNotFound(NotFound):
    message = N_("Cette action n’existe pas.")


class EvaluationNotFound(NotFound):
    message = N_("Cette évaluation n’existe pas.")


class EvaluationClosed(Conflict):
    code = "evaluation-closed"
    message = N_("Les actions s’évaluent pendant la phase de suivi de leur consultation.")


class InvalidEvaluation(Conflict):
    status_code = 422
    code = "invalid-evaluation"
    message = N_("Choisissez une note de 1 à 5.")


@dataclass(frozen=True)
class EvaluationSummary:
    count: int
    average: float | None  # None when nobody has rated yet
    distribution: dict[int, int]  # rating → how many


def get_action(session: Session, action_id: int) -> PublicAction:
    action = session.get(PublicAction, action_id)
    if action is None:
        raise ActionNotFound()
    consultations.get(session, action.consultation_id)  # drafts' actions do not exist for the public
    return action


def can_evaluate(session: Session, principal: Principal | None, action: PublicAction, *, now: datetime) -> str | None:
    """None when this person may rate the action now, else the reason in plain French."""
    consultation = consultations.get(session, action.consultation_id, principal=principal)
    if consultations.current_phase(consultation, now) != Phase.follow_up:
        return EvaluationClosed.message
    decision = consultations.check_eligibility(session, principal.user if principal else None, consultation, now=now)
    return None if decision else decision.reason


def evaluate(session: Session, principal: Principal, action: PublicAction, *, rating: int, comment: str | None,
             now: datetime, channel: Channel = Channel.online, mediator: Principal | None = None) -> ActionEvaluation:
    """Rate an action (1-5) with an optional comment; a second rating replaces the first."""
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidEvaluation()
    reason = can_evaluate(session, principal, action, now=now)
    if reason is not None:
        if reason == EvaluationClosed.message:
            raise EvaluationClosed()
        raise Forbidden(reason)
    text = (comment or "").strip()[:MAX_COMMENT] or None
    html = render_markdown(text) if text else None
    # Lock the action's row first: concurrent ratings of one action queue up here, so the
    # counters below always add up (PostgreSQL; SQLite's writers are serialised already).
    session.execute(select(PublicAction.id).where(col(PublicAction.id) == action.id).with_for_update())
    existing = _find(session, action.id or 0, principal.id)
    if existing is None:
        evaluation = ActionEvaluation(action_id=action.id or 0, user_id=principal.id, rating=rating, comment=text,
                                      comment_html=html, channel=channel, created_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(evaluation)
                session.flush()
        except IntegrityError:
            # A twin request (double click) rated first: this one replaces it like a second rating.
            existing = _find(session, action.id or 0, principal.id)
            if existing is None:
                raise
        else:
            session.execute(
                update(PublicAction).where(col(PublicAction.id) == action.id)
                .values(ratings_count=PublicAction.ratings_count + 1, ratings_sum=PublicAction.ratings_sum + rating)
            )
    if existing is not None:
        session.execute(
            update(PublicAction).where(col(PublicAction.id) == action.id)
            .values(ratings_sum=PublicAction.ratings_sum - existing.rating + rating)
        )
        existing.rating, existing.comment, existing.comment_html = rating, text, html
        existing.channel, existing.updated_at = channel, now
        if existing.state == "hidden":
            existing.state = "published"  # a new text deserves a new look; moderators can hide it again
        session.add(existing)
        evaluation = existing
    session.flush()
    if channel == Channel.assisted and mediator is not None:
        audit.record(session, actor_id=mediator.id, actor_label=mediator.user.display_name or "",
                     action="action.evaluated", target_type="action", target_id=action.id, now=now,
                     after={"voter_id": principal.id, "rating": rating}, channel=channel)
    session.refresh(action)
    return evaluation


def _find(session: Session, action_id: int, user_id: int) -> ActionEvaluation | None:
    return session.exec(
        select(ActionEvaluation).where(ActionEvaluation.action_id == action_id, ActionEvaluation.user_id == user_id)
    ).first()


def own_evaluation(session: Session, principal: Principal | None, action: PublicAction) -> ActionEvaluation | None:
    if principal is None:
        return None
    return _find(session, action.id or 0, principal.id)


def summary(session: Session, action: PublicAction) -> EvaluationSummary:
    rows = session.execute(
        select(ActionEvaluation.rating, ActionEvaluation.id)
        .where(col(ActionEvaluation.action_id) == action.id)
    ).all()
    distribution = dict.fromkeys(range(1, 6), 0)
    for rating, _ in rows:
        distribution[rating] += 1
    count = action.ratings_count
    return EvaluationSummary(count=count, average=round(action.ratings_sum / count, 2) if count else None,
                             distribution=distribution)


def public_comments(session: Session, action: PublicAction, *, principal: Principal | None = None,
                    limit: int = 50, offset: int = 0) -> list[ActionEvaluation]:
    """Residents' comments on the action, newest first; hidden ones only for moderators of its scope."""
    query = select(ActionEvaluation).where(
        col(ActionEvaluation.action_id) == action.id, col(ActionEvaluation.comment).is_not(None)
    )
    consultation = consultations.get(session, action.consultation_id, principal=principal)
    if not can(principal, Action.moderate_content, consultations.scope_of(consultation)):
        query = query.where(col(ActionEvaluation.state) == "published")
    query = query.order_by(col(ActionEvaluation.updated_at).desc(), col(ActionEvaluation.id).desc())
    return list(session.exec(query.offset(offset).limit(limit)))


def get_evaluation(session: Session, evaluation_id: int) -> ActionEvaluation:
    evaluation = session.get(ActionEvaluation, evaluation_id)
    if evaluation is None:
        raise EvaluationNotFound()
    return evaluation


def set_comment_visibility(session: Session, principal: Principal, evaluation: ActionEvaluation, *, hidden: bool,
                           now: datetime) -> ActionEvaluation:
    """Moderators hide an evaluation's comment (its rating still counts) or show it again."""
    action = get_action(session, evaluation.action_id)
    consultation = consultations.get(session, action.consultation_id, principal=principal)
    decision = can(principal, Action.moderate_content, consultations.scope_of(consultation))
    if not decision:
        raise Forbidden(decision.reason)
    before = evaluation.state
    evaluation.state = "hidden" if hidden else "published"
    session.add(evaluation)
    audit.record(session, actor_id=principal.id, actor_label=principal.user.display_name or "",
                 action="evaluation.hidden" if hidden else "evaluation.restored", target_type="evaluation",
                 target_id=evaluation.id, now=now, before={"state": before}, after={"state": evaluation.state})
    session.flush()
    return evaluation


@on_erasure
def _unlink_evaluations(session: Session, user_id: int, now: datetime) -> None:
    """Erasure: ratings still count and comments stay, nothing links them to the person any more."""
    session.execute(update(ActionEvaluation).where(col(ActionEvaluation.user_id) == user_id).values(user_id=None))


@export_section("action_evaluations")
def _export_evaluations(session: Session, user_id: int) -> list[dict[str, object]]:
    rows = session.exec(
        select(ActionEvaluation).where(ActionEvaluation.user_id == user_id).order_by(col(ActionEvaluation.created_at))
    )
    return [{"action_id": e.action_id, "rating": e.rating, "comment": e.comment, "channel": e.channel,
             "created_at": e.created_at.isoformat(), "updated_at": e.updated_at.isoformat()} for e in rows]
