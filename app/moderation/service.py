"""Reports: anyone signed in reports a proposal or a comment once; at a threshold the item is
hidden until a moderator looks at it (the moderation queue comes with the back office)."""

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.policy import Principal
from app.audit import service as audit
from app.core.errors import Conflict
from app.core.i18n import N_
from app.moderation.models import Report, ReportReason
from app.proposals import service as proposals
from app.proposals.models import VISIBLE_STATES, Comment, CommentState, Proposal, ProposalState

MAX_TEXT = 1000


class AlreadyReported(Conflict):
    code = "already-reported"
    message = N_("Vous avez déjà signalé ce contenu : un modérateur va l’examiner.")


class InvalidReport(Conflict):
    status_code = 422
    code = "invalid-report"
    message = N_("Précisez la raison du signalement.")


def report(session: Session, principal: Principal, *, target_type: str, target_id: int, reason: ReportReason,
           text: str | None, now: datetime, threshold: int) -> Report:
    """Record a report; at `threshold` open reports the item is hidden pending moderation."""
    cleaned = (text or "").strip()[:MAX_TEXT] or None
    if reason == ReportReason.other and not cleaned:
        raise InvalidReport()
    if target_type == "proposal":
        item = proposals.get(session, target_id, principal=principal)
        entry = Report(target_type="proposal", target_key=f"proposal:{item.id}", proposal_id=item.id,
                       reporter_id=principal.id, reason=reason, text=cleaned, created_at=now)
    else:
        comment = proposals.get_comment(session, target_id, principal=principal)
        entry = Report(target_type="comment", target_key=f"comment:{comment.id}", comment_id=comment.id,
                       reporter_id=principal.id, reason=reason, text=cleaned, created_at=now)
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError as error:
        raise AlreadyReported() from error
    open_reports = session.exec(
        select(func.count()).select_from(Report)
        .where(Report.target_key == entry.target_key, col(Report.resolved_at).is_(None))
    ).one()
    if open_reports >= threshold:
        _hide_pending_moderation(session, entry, now)
    return entry


def _hide_pending_moderation(session: Session, entry: Report, now: datetime) -> None:
    """Hide a running proposal or a published comment, and say so in the audit log. Anything else
    (already hidden, pending, withdrawn, deleted) stays as it is and no entry claims otherwise, whoever
    reported it: its author and moderators still see, and may report, a hidden item."""
    reason = N_("Masqué automatiquement après plusieurs signalements, en attente d’un modérateur.")
    if entry.proposal_id is not None:
        proposal = session.get(Proposal, entry.proposal_id)
        if proposal is None or proposal.state not in VISIBLE_STATES:
            return
        proposal.state = ProposalState.hidden
        proposal.moderation_reason = reason
        session.add(proposal)
    else:
        comment = session.get(Comment, entry.comment_id)
        if comment is None or comment.state != CommentState.published:
            return
        comment.state = CommentState.hidden
        comment.moderation_reason = reason
        session.add(comment)
        # Counted out like a deleted one: the count is what readers see (and deleting it later
        # does not count it out again).
        session.execute(
            update(Proposal).where(col(Proposal.id) == comment.proposal_id)
            .values(comments_count=Proposal.comments_count - 1)
        )
    audit.record(session, actor_id=None, actor_label="carreau (seuil de signalements)", action="content.hidden",
                 target_type=entry.target_type, target_id=entry.target_key.split(":")[1], now=now,
                 after={"reason": "reports_threshold"})
    session.flush()
