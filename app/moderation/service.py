"""Reports and moderation. Anyone signed in reports a proposal or a comment once; at a threshold
the item is hidden until a moderator looks at it. Moderators, within their scope (an axis, a
consultation, or everywhere), work through the queue of reported items and of proposals awaiting
approval (pre-moderated consultations): they hide (with a reason shown to the author), restore or
approve, one item or several at once, and may bar a participant from taking part for a while.

Every act resolves the item's open reports, leaves its audit entry (before/after) and notifies
the author, in the same transaction.

Who may block whom: an admin or a platform-wide moderator blocks anyone; a moderator of an axis
or a consultation blocks a person who wrote a proposal or a comment in a consultation they
moderate. The block stops participation everywhere (the schema holds one end date per person)
for at most MAX_BLOCK_DAYS; sign-in, the account pages, the data export and erasure still work."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, true, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.models import Role, User
from app.accounts.policy import Action, Principal, Scope, can
from app.accounts.service import display_name_of
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.consultations.service import scope_of
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_, gettext
from app.moderation.models import Report, ReportReason
from app.notifications import service as notifications
from app.notifications.models import NotificationKind
from app.proposals import service as proposals
from app.proposals.models import PUBLIC_STATES, Comment, CommentState, Proposal, ProposalState

MAX_TEXT = 1000
MAX_REASON = 500
MAX_BLOCK_DAYS = 365
QUEUE_KINDS = ("reported", "pending", "hidden")
TARGET_TYPES = ("proposal", "comment")
AUTO_HIDE_REASON = N_("Masqué automatiquement après plusieurs signalements, en attente d’un modérateur.")


class AlreadyReported(Conflict):
    code = "already-reported"
    message = N_("Vous avez déjà signalé ce contenu : un modérateur va l’examiner.")


class InvalidReport(Conflict):
    status_code = 422
    code = "invalid-report"
    message = N_("Précisez la raison du signalement.")


class NotModerator(Forbidden):
    code = "not-moderator"
    message = N_("Seuls les modérateurs de cet axe ou de cette consultation peuvent faire cela.")


class ContentNotFound(NotFound):
    message = N_("Ce contenu n’existe pas.")


class ReasonRequired(Conflict):
    status_code = 422
    code = "reason-required"
    message = N_("Indiquez la raison du masquage (500 caractères au plus) : elle sera montrée à son auteur ou à "
                 "son autrice.")


class CannotModerate(Conflict):
    code = "cannot-moderate"
    message = N_("Ce contenu ne peut pas recevoir cette décision dans son état actuel.")


class NothingSelected(Conflict):
    status_code = 422
    code = "nothing-selected"
    message = N_("Cochez au moins un contenu.")


class InvalidBlock(Conflict):
    status_code = 422
    code = "invalid-block"

    def __init__(self, message: str | None = None, *, field: str = "until") -> None:
        super().__init__(message)
        self.field = field  # the form field at fault: until or reason


class PersonNotFound(NotFound):
    message = N_("Cette personne n’existe pas.")


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
    """Hide a public proposal (withdrawn ones too: their text stays public) or a published comment,
    say so in the audit log and tell the author. Anything else (already hidden, pending, deleted)
    stays as it is and no entry claims otherwise, whoever reported it: its author and moderators
    still see, and may report, a hidden item."""
    reason = AUTO_HIDE_REASON
    if entry.proposal_id is not None:
        proposal = session.get(Proposal, entry.proposal_id)
        if proposal is None or proposal.state not in PUBLIC_STATES:
            return
        before = {"state": proposal.state, "reason": proposal.moderation_reason}
        proposal.state = ProposalState.hidden
        proposal.moderation_reason = reason
        proposal.moderated_at = now
        session.add(proposal)
        author_id, title, url = proposal.author_id, _hidden_title("proposal", proposal), _url(proposal, None)
    else:
        comment = session.get(Comment, entry.comment_id)
        if comment is None or comment.state != CommentState.published:
            return
        before = {"state": comment.state, "reason": comment.moderation_reason}
        comment.state = CommentState.hidden
        comment.moderation_reason = reason
        comment.moderated_at = now
        session.add(comment)
        # Counted out like a deleted one: the count is what readers see (and deleting it later
        # does not count it out again).
        _count_comment(session, comment.proposal_id, -1)
        parent = session.get(Proposal, comment.proposal_id)
        author_id, title, url = comment.author_id, _hidden_title("comment", parent), _url(parent, comment)
    audit.record(session, actor_id=None, actor_label="carreau (seuil de signalements)", action="content.hidden",
                 target_type=entry.target_type, target_id=entry.target_key.split(":")[1], now=now,
                 before=before, after={"reason": "reports_threshold"})
    notifications.notify(session, [author_id], kind=NotificationKind.content_hidden, target_type=entry.target_type,
                         target_id=int(entry.target_key.split(":")[1]), title=title, url=url, body=reason, now=now)
    session.flush()


# --- who moderates what


@dataclass(frozen=True)
class ModeratorScope:
    everywhere: bool
    axis_ids: frozenset[int] = frozenset()
    consultation_ids: frozenset[int] = frozenset()

    def condition(self) -> Any:
        """An SQL condition on Consultation: the consultations this person moderates."""
        if self.everywhere:
            return true()
        return or_(col(Consultation.axis_id).in_(sorted(self.axis_ids)),
                   col(Consultation.id).in_(sorted(self.consultation_ids)))


def moderator_scope(principal: Principal | None) -> ModeratorScope:
    """Where this person moderates; refused (403) for anyone who moderates nowhere."""
    if principal is None or not (principal.is_admin or principal.has_role(Role.moderator)) \
            or principal.user.is_erased:
        raise NotModerator()
    if can(principal, Action.moderate_content, Scope()):
        return ModeratorScope(everywhere=True)
    grants = [g for g in principal.grants if g.role == Role.moderator]
    return ModeratorScope(
        everywhere=False,
        axis_ids=frozenset(g.axis_id for g in grants if g.axis_id is not None),
        consultation_ids=frozenset(g.consultation_id for g in grants if g.consultation_id is not None),
    )


def is_moderator(principal: Principal | None) -> bool:
    """For menus: does this person moderate anywhere?"""
    return principal is not None and (principal.is_admin or principal.has_role(Role.moderator))


def _check(principal: Principal, consultation: Consultation) -> None:
    decision = can(principal, Action.moderate_content, scope_of(consultation))
    if not decision:
        raise NotModerator(decision.reason)


@proposals.on_proposal_page
def _tools_on_the_proposal_page(session: Session, proposal: Proposal, principal: Principal | None) -> dict[str, Any]:
    """The proposal page offers its moderators to hide or restore it (and its comments)."""
    consultation = session.get(Consultation, proposal.consultation_id)
    allowed = principal is not None and consultation is not None and bool(
        can(principal, Action.moderate_content, scope_of(consultation)))
    return {"can_moderate": allowed}


def moderated_consultations(session: Session, principal: Principal) -> list[Consultation]:
    """The consultations this person moderates, for the queue's filter."""
    scope = moderator_scope(principal)
    return list(session.exec(
        select(Consultation).where(scope.condition()).order_by(col(Consultation.title), col(Consultation.id))
    ))


# --- the queue


@dataclass
class QueueItem:
    kind: str  # "reported", "pending" or "hidden"
    target_type: str  # "proposal" or "comment"
    proposal: Proposal  # the proposal, or the one the comment belongs to
    comment: Comment | None
    consultation: Consultation
    author: User | None
    author_name: str
    since: datetime  # the oldest open report, when the proposal was submitted, or when it was hidden
    reports: list[Report] = field(default_factory=list)

    @property
    def target_id(self) -> int:
        item = self.comment if self.comment is not None else self.proposal
        return item.id or 0

    @property
    def key(self) -> str:
        return f"{self.target_type}:{self.target_id}"

    @property
    def state(self) -> str:
        return self.comment.state if self.comment is not None else self.proposal.state

    @property
    def moderation_reason(self) -> str | None:
        item = self.comment if self.comment is not None else self.proposal
        return item.moderation_reason

    @property
    def url(self) -> str:
        return _url(self.proposal, self.comment)

    @property
    def reasons(self) -> dict[str, int]:
        """How many open reports give each reason, most frequent first."""
        counted: dict[str, int] = {}
        for entry in self.reports:
            counted[entry.reason] = counted.get(entry.reason, 0) + 1
        return dict(sorted(counted.items(), key=lambda pair: (-pair[1], pair[0])))


@dataclass(frozen=True)
class Queue:
    items: list[QueueItem]
    reported: int  # items with open reports, in scope and filters
    pending: int  # proposals awaiting approval
    hidden: int  # proposals and comments hidden, to restore some
    total: int  # of the kind asked for
    limit: int
    offset: int


def _filters(consultation_id: int | None, axis_id: int | None) -> list[Any]:
    conditions: list[Any] = []
    if consultation_id is not None:
        conditions.append(col(Consultation.id) == consultation_id)
    if axis_id is not None:
        conditions.append(col(Consultation.axis_id) == axis_id)
    return conditions


def queue(session: Session, principal: Principal, *, kind: str | None = None, consultation_id: int | None = None,
          axis_id: int | None = None, limit: int = 50, offset: int = 0) -> Queue:
    """Reported items (with their open reports) and proposals awaiting approval, oldest first,
    within the moderator's scope. `kind` keeps one of the two lists; without it they are merged.
    `kind="hidden"` lists instead the hidden proposals and comments, the last hidden first (where
    a moderator finds one to restore)."""
    scope = moderator_scope(principal)
    limit = max(1, min(limit, 200))
    offset = max(0, offset)
    where = [scope.condition(), *_filters(consultation_id, axis_id)]
    target_proposal = func.coalesce(Report.proposal_id, Comment.proposal_id)
    groups = (
        select(Report.target_key, func.min(Report.created_at).label("since"))
        .select_from(Report)
        .outerjoin(Comment, col(Comment.id) == Report.comment_id)
        .join(Proposal, col(Proposal.id) == target_proposal)
        .join(Consultation, col(Consultation.id) == Proposal.consultation_id)
        .where(col(Report.resolved_at).is_(None), *where)
        .group_by(col(Report.target_key))
    )
    pending = (
        select(Proposal).join(Consultation, col(Consultation.id) == Proposal.consultation_id)
        .where(col(Proposal.state) == ProposalState.pending, *where)
    )
    hidden_at_p = func.coalesce(Proposal.moderated_at, Proposal.updated_at)
    hidden_proposals = (
        select(Proposal.id, hidden_at_p.label("at"))
        .join(Consultation, col(Consultation.id) == Proposal.consultation_id)
        .where(col(Proposal.state) == ProposalState.hidden, *where)
    )
    hidden_at_c = func.coalesce(Comment.moderated_at, Comment.updated_at)
    hidden_comments = (
        select(Comment.id, hidden_at_c.label("at")).join(Proposal, col(Proposal.id) == Comment.proposal_id)
        .join(Consultation, col(Consultation.id) == Proposal.consultation_id)
        .where(col(Comment.state) == CommentState.hidden, *where)
    )
    reported_count = session.exec(select(func.count()).select_from(groups.subquery())).one()
    pending_count = session.exec(select(func.count()).select_from(pending.subquery())).one()
    hidden_count = session.exec(select(  # one query for both
        select(func.count()).select_from(hidden_proposals.subquery()).scalar_subquery()
        + select(func.count()).select_from(hidden_comments.subquery()).scalar_subquery()
    )).one()
    wanted = offset + limit
    reported_rows: list[tuple[str, datetime]] = []
    if kind in (None, "reported"):
        reported_rows = [(key, since) for key, since in session.exec(
            groups.order_by(func.min(Report.created_at), col(Report.target_key)).limit(wanted))]
    pending_rows: list[Proposal] = []
    if kind in (None, "pending"):
        pending_rows = list(session.exec(
            pending.order_by(col(Proposal.created_at), col(Proposal.id)).limit(wanted)))
    if kind == "hidden":
        hidden_rows = [(f"proposal:{pid}", at) for pid, at in session.exec(
            hidden_proposals.order_by(hidden_at_p.desc(), col(Proposal.id).desc()).limit(wanted))]
        hidden_rows += [(f"comment:{cid}", at) for cid, at in session.exec(
            hidden_comments.order_by(hidden_at_c.desc(), col(Comment.id).desc()).limit(wanted))]
        loaded = _preload(session, [key for key, _at in hidden_rows], [])  # held while items are built
        items = _reported_items(session, hidden_rows, kind="hidden")
        items.sort(key=lambda item: (item.since, item.target_type, item.target_id), reverse=True)
        del loaded
        return Queue(items[offset:offset + limit], reported_count, pending_count, hidden_count, hidden_count, limit,
                     offset)
    loaded = _preload(session, [key for key, _since in reported_rows], pending_rows)  # held while items are built
    items = _reported_items(session, reported_rows) + [_pending_item(session, p) for p in pending_rows]
    items.sort(key=lambda item: (item.since, item.kind, item.target_type, item.target_id))
    del loaded
    total = {"reported": reported_count, "pending": pending_count}.get(kind or "", reported_count + pending_count)
    return Queue(items[offset:offset + limit], reported_count, pending_count, hidden_count, total, limit, offset)


def _preload(session: Session, keys: list[str], pending: list[Proposal]) -> list[Any]:
    """Load a page's comments, proposals, consultations and authors in four queries: the items are
    then built from the session's identity map (session.get asks the database nothing more) as
    long as the caller holds the objects returned (the identity map only keeps weak references)."""
    comment_ids = [int(key.partition(":")[2]) for key in keys if key.startswith("comment:")]
    comments = list(session.exec(select(Comment).where(col(Comment.id).in_(comment_ids)))) if comment_ids else []
    proposal_ids = {int(key.partition(":")[2]) for key in keys if key.startswith("proposal:")}
    proposal_ids |= {c.proposal_id for c in comments}
    loaded = list(session.exec(select(Proposal).where(col(Proposal.id).in_(sorted(proposal_ids))))) \
        if proposal_ids else []
    every = loaded + pending
    consultation_ids = sorted({p.consultation_id for p in every})
    held: list[Any] = [*comments, *every]
    if consultation_ids:
        held += session.exec(select(Consultation).where(col(Consultation.id).in_(consultation_ids))).all()
    author_ids = sorted({p.author_id for p in every} | {c.author_id for c in comments})
    if author_ids:
        held += session.exec(select(User).where(col(User.id).in_(author_ids))).all()
    return held


def _author(session: Session, user_id: int) -> tuple[User | None, str]:
    user = session.get(User, user_id)
    return user, display_name_of(user)


def _reported_items(session: Session, rows: list[tuple[str, datetime]], kind: str = "reported") -> list[QueueItem]:
    if not rows:
        return []
    keys = [key for key, _since in rows]
    reports: dict[str, list[Report]] = {key: [] for key in keys}
    for entry in session.exec(
        select(Report).where(col(Report.target_key).in_(keys), col(Report.resolved_at).is_(None))
        .order_by(col(Report.created_at), col(Report.id))
    ):
        reports[entry.target_key].append(entry)
    items = []
    for key, since in rows:
        target_type, _, raw_id = key.partition(":")
        comment = session.get(Comment, int(raw_id)) if target_type == "comment" else None
        proposal = session.get(Proposal, comment.proposal_id if comment is not None else int(raw_id))
        assert proposal is not None
        consultation = session.get(Consultation, proposal.consultation_id)
        assert consultation is not None
        author, name = _author(session, comment.author_id if comment is not None else proposal.author_id)
        items.append(QueueItem(kind, target_type, proposal, comment, consultation, author, name, since,
                               reports[key]))
    return items


def _pending_item(session: Session, proposal: Proposal) -> QueueItem:
    consultation = session.get(Consultation, proposal.consultation_id)
    assert consultation is not None
    author, name = _author(session, proposal.author_id)
    return QueueItem("pending", "proposal", proposal, None, consultation, author, name, proposal.created_at)


# --- acting on one item


def _url(proposal: Proposal | None, comment: Comment | None) -> str:
    if proposal is None:
        return "/"
    return f"/propositions/{proposal.id}" + (f"#comment-{comment.id}" if comment is not None else "")


# Notification titles are stored in French (the msgid with its values), whoever acted, in whatever language.


def _hidden_title(target_type: str, proposal: Proposal | None) -> str:
    title = proposal.title if proposal is not None else ""
    if target_type == "comment":
        return N_("Votre commentaire sur « %(title)s » a été masqué par la modération.") % {"title": title}
    return N_("Votre proposition « %(title)s » a été masquée par la modération.") % {"title": title}


def _restored_title(target_type: str, proposal: Proposal) -> str:
    if target_type == "comment":
        return N_("Votre commentaire sur « %(title)s » est de nouveau visible.") % {"title": proposal.title}
    return N_("Votre proposition « %(title)s » est de nouveau visible.") % {"title": proposal.title}


def _count_comment(session: Session, proposal_id: int, delta: int) -> None:
    # One UPDATE: concurrent comments never lose a count.
    session.execute(
        update(Proposal).where(col(Proposal.id) == proposal_id)
        .values(comments_count=Proposal.comments_count + delta)
    )
    proposal = session.get(Proposal, proposal_id)
    if proposal is not None:
        session.expire(proposal, ["comments_count"])


@dataclass
class Target:
    target_type: str
    proposal: Proposal
    comment: Comment | None
    consultation: Consultation

    @property
    def target_id(self) -> int:
        item = self.comment if self.comment is not None else self.proposal
        return item.id or 0

    @property
    def key(self) -> str:
        return f"{self.target_type}:{self.target_id}"

    @property
    def author_id(self) -> int:
        return self.comment.author_id if self.comment is not None else self.proposal.author_id


def target(session: Session, principal: Principal, target_type: str, target_id: int) -> Target:
    """The item, for someone who moderates its consultation (403 for anyone who moderates
    nowhere, 404 for an unknown item, 403 for one outside their scope)."""
    moderator_scope(principal)
    comment: Comment | None = None
    if target_type == "comment":
        comment = session.get(Comment, target_id)
        if comment is None:
            raise ContentNotFound()
        proposal = session.get(Proposal, comment.proposal_id)
    elif target_type == "proposal":
        proposal = session.get(Proposal, target_id)
    else:
        raise ContentNotFound()
    if proposal is None:
        raise ContentNotFound()
    consultation = session.get(Consultation, proposal.consultation_id)
    assert consultation is not None
    _check(principal, consultation)
    return Target(target_type, proposal, comment, consultation)


def _resolve_reports(session: Session, principal: Principal, key: str, resolution: str, now: datetime) -> int:
    return session.execute(
        update(Report).where(col(Report.target_key) == key, col(Report.resolved_at).is_(None))
        .values(resolved_at=now, resolved_by_id=principal.id, resolution=resolution)
    ).rowcount


def _label(principal: Principal) -> str:
    return principal.user.display_name or f"#{principal.id}"


def hide(session: Session, principal: Principal, target_type: str, target_id: int, *, reason: str,
         now: datetime) -> Target:
    """Hide a proposal (in any state: a withdrawn or pending one too) or a comment, with a reason
    shown to its author. Hiding a hidden item again replaces the reason (e.g. confirming an
    automatic hiding)."""
    found = target(session, principal, target_type, target_id)
    cleaned = " ".join((reason or "").split())
    if not cleaned or len(cleaned) > MAX_REASON:
        raise ReasonRequired()
    if found.comment is not None:
        comment = found.comment
        before = {"state": comment.state, "reason": comment.moderation_reason}
        if comment.state == CommentState.deleted:
            raise CannotModerate(N_("Ce commentaire a été supprimé par son auteur ou son autrice : il n’y a rien à "
                                    "masquer."))
        # Conditional: of a hiding and a deletion at the same moment, the count moves once.
        hidden_now = session.execute(
            update(Comment).where(col(Comment.id) == comment.id, col(Comment.state) == CommentState.published)
            .values(state=CommentState.hidden, moderation_reason=cleaned, moderated_at=now)
        ).rowcount
        if hidden_now:
            _count_comment(session, comment.proposal_id, -1)
        elif not session.execute(
            update(Comment).where(col(Comment.id) == comment.id, col(Comment.state) == CommentState.hidden)
            .values(moderation_reason=cleaned, moderated_at=now)
        ).rowcount:
            raise CannotModerate()
        session.refresh(comment)
    else:
        proposal = found.proposal
        # Its row locked and read afresh: a withdrawal or a support at the same moment waits (PostgreSQL).
        session.refresh(proposal, with_for_update={"key_share": True})
        before = {"state": proposal.state, "reason": proposal.moderation_reason}
        proposal.state = ProposalState.hidden
        proposal.moderation_reason = cleaned
        proposal.moderated_at = now
        session.add(proposal)
    resolved = _resolve_reports(session, principal, found.key, "hidden", now)
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="content.hidden",
                 target_type=found.target_type, target_id=found.target_id, now=now, before=before,
                 after={"state": "hidden", "reason": cleaned, "reports_resolved": resolved})
    notifications.notify(session, [found.author_id], kind=NotificationKind.content_hidden,
                         target_type=found.target_type, target_id=found.target_id,
                         title=_hidden_title(found.target_type, found.proposal),
                         url=_url(found.proposal, found.comment), body=cleaned, now=now, exclude=principal.id)
    session.flush()
    return found


def _state_before_hiding(session: Session, proposal: Proposal) -> str:
    """The state a hidden proposal had before it was hidden, from the audit log."""
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.target_type == "proposal", AuditEntry.target_id == str(proposal.id),
                                 AuditEntry.action == "content.hidden")
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    )
    for entry in entries:
        state = (entry.before or {}).get("state")
        if state and state != ProposalState.hidden:
            return str(state)
    return ProposalState.withdrawn if proposal.withdrawn_at is not None else ProposalState.published


def restore(session: Session, principal: Principal, target_type: str, target_id: int, *, now: datetime) -> Target:
    """Show a hidden item again (a proposal in the state it had before), or keep a reported item as
    it is: either way its open reports are closed as `restored`."""
    found = target(session, principal, target_type, target_id)
    changed = False
    if found.comment is not None:
        comment = found.comment
        before = {"state": comment.state, "reason": comment.moderation_reason}
        changed = bool(session.execute(
            update(Comment).where(col(Comment.id) == comment.id, col(Comment.state) == CommentState.hidden)
            .values(state=CommentState.published, moderation_reason=None, moderated_at=now)
        ).rowcount)
        if changed:
            _count_comment(session, comment.proposal_id, +1)
        session.refresh(comment)
        after_state = comment.state
    else:
        proposal = found.proposal
        session.refresh(proposal, with_for_update={"key_share": True})
        before = {"state": proposal.state, "reason": proposal.moderation_reason}
        if proposal.state == ProposalState.hidden:
            proposal.state = _state_before_hiding(session, proposal)
            proposal.moderation_reason = None
            proposal.moderated_at = now
            session.add(proposal)
            changed = True
        after_state = proposal.state
    resolved = _resolve_reports(session, principal, found.key, "restored", now)
    if not changed and not resolved:
        raise CannotModerate(N_("Ce contenu n’est pas masqué et n’a pas de signalement en attente."))
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="content.restored",
                 target_type=found.target_type, target_id=found.target_id, now=now, before=before,
                 after={"state": after_state, "reports_resolved": resolved})
    if changed:
        notifications.notify(session, [found.author_id], kind=NotificationKind.content_restored,
                             target_type=found.target_type, target_id=found.target_id,
                             title=_restored_title(found.target_type, found.proposal),
                             url=_url(found.proposal, found.comment), now=now, exclude=principal.id)
    session.flush()
    return found


def approve(session: Session, principal: Principal, target_type: str, target_id: int, *, now: datetime) -> Target:
    """Publish a proposal awaiting approval (pre-moderated consultations)."""
    found = target(session, principal, target_type, target_id)
    if found.comment is not None:
        raise CannotModerate(N_("Seules les propositions en attente de relecture peuvent être approuvées."))
    proposal = found.proposal
    published = session.execute(
        update(Proposal).where(col(Proposal.id) == proposal.id, col(Proposal.state) == ProposalState.pending)
        .values(state=ProposalState.published, moderated_at=now, updated_at=now)
    ).rowcount
    if not published:
        raise CannotModerate(N_("Seules les propositions en attente de relecture peuvent être approuvées."))
    session.refresh(proposal)
    resolved = _resolve_reports(session, principal, found.key, "approved", now)
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="content.approved",
                 target_type="proposal", target_id=found.target_id, now=now, before={"state": "pending"},
                 after={"state": proposal.state, "reports_resolved": resolved})
    notifications.notify(session, [proposal.author_id], kind=NotificationKind.content_restored,
                         target_type="proposal", target_id=found.target_id,
                         title=N_("Votre proposition « %(title)s » est publiée.") % {"title": proposal.title},
                         url=_url(proposal, None), now=now, exclude=principal.id)
    session.flush()
    return found


# --- several at once

BULK_ACTIONS = ("hide", "restore", "approve")


@dataclass(frozen=True)
class BulkOutcome:
    done: list[str]  # "proposal:12", "comment:4"
    refused: list[tuple[str, str]]  # (key, why, in words)


def parse_key(key: str) -> tuple[str, int] | None:
    target_type, _, raw_id = key.partition(":")
    if target_type not in TARGET_TYPES or not raw_id.isdigit() or len(raw_id) > 12:
        return None
    return target_type, int(raw_id)


def bulk(session: Session, principal: Principal, action: str, keys: list[str], *, reason: str = "",
         now: datetime) -> BulkOutcome:
    """The same decision on several items: each checked, done and audited on its own (one refused
    item leaves the others done)."""
    moderator_scope(principal)
    if action not in BULK_ACTIONS:
        raise CannotModerate()
    wanted = list(dict.fromkeys(key for key in keys if key))
    if not wanted:
        raise NothingSelected()
    cleaned = " ".join((reason or "").split())
    if action == "hide" and (not cleaned or len(cleaned) > MAX_REASON):
        raise ReasonRequired()
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for key in wanted:
        parsed = parse_key(key)
        if parsed is None:
            refused.append((key, gettext(ContentNotFound.message)))
            continue
        try:
            with session.begin_nested():
                if action == "hide":
                    hide(session, principal, *parsed, reason=cleaned, now=now)
                elif action == "restore":
                    restore(session, principal, *parsed, now=now)
                else:
                    approve(session, principal, *parsed, now=now)
        except (NotFound, Forbidden, Conflict) as refusal:
            refused.append((key, gettext(refusal.message)))
        else:
            done.append(key)
    return BulkOutcome(done, refused)


# --- barring a participant for a while


def _authored_in_scope(session: Session, scope: ModeratorScope, user_id: int) -> bool:
    proposal_ids = select(Proposal.id).join(Consultation, col(Consultation.id) == Proposal.consultation_id).where(
        scope.condition())
    wrote_proposal = session.exec(
        select(Proposal.id).where(Proposal.author_id == user_id, col(Proposal.id).in_(proposal_ids)).limit(1)
    ).first()
    if wrote_proposal is not None:
        return True
    return session.exec(
        select(Comment.id).where(Comment.author_id == user_id, col(Comment.proposal_id).in_(proposal_ids)).limit(1)
    ).first() is not None


def blockable(session: Session, principal: Principal, user_id: int) -> User:
    """The person, if this moderator may block them (see the module's docstring)."""
    scope = moderator_scope(principal)
    user = session.get(User, user_id)
    if user is None or user.is_erased:
        raise PersonNotFound()
    if user.id == principal.id:
        raise InvalidBlock(N_("Vous ne pouvez pas vous bloquer vous-même."), field="person")
    if scope.everywhere or _authored_in_scope(session, scope, user_id):
        return user
    raise NotModerator(N_("Vous ne pouvez bloquer que les personnes qui ont écrit dans les consultations que vous "
                          "modérez."))


def block(session: Session, principal: Principal, user_id: int, *, until: datetime, reason: str,
          now: datetime) -> User:
    """Bar a person from participating until `until` (sign-in and data rights stay)."""
    user = blockable(session, principal, user_id)
    cleaned = " ".join((reason or "").split())
    if not cleaned or len(cleaned) > MAX_REASON:
        raise InvalidBlock(N_("Indiquez la raison du blocage (500 caractères au plus) : elle sera montrée à la "
                              "personne."), field="reason")
    if until.tzinfo is None:
        raise InvalidBlock(N_("Indiquez la date de fin avec son fuseau horaire."))
    if until <= now:
        raise InvalidBlock(N_("La date de fin du blocage doit être dans le futur."))
    if until > now + timedelta(days=MAX_BLOCK_DAYS):
        raise InvalidBlock(gettext("Un blocage dure au plus %(days)s jours.", days=MAX_BLOCK_DAYS))
    before = _block_state(user, now)
    user.participation_blocked_until = until
    user.participation_block_reason = cleaned
    session.add(user)
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="user.blocked",
                 target_type="user", target_id=user.id, now=now, before=before, after=_block_state(user, now))
    session.flush()
    return user


def unblock(session: Session, principal: Principal, user_id: int, *, now: datetime) -> User:
    user = blockable(session, principal, user_id)
    if not user.is_blocked(now):
        raise CannotModerate(N_("Cette personne n’est pas bloquée."))
    before = _block_state(user, now)
    user.participation_blocked_until = None
    user.participation_block_reason = None
    session.add(user)
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="user.unblocked",
                 target_type="user", target_id=user.id, now=now, before=before, after=_block_state(user, now))
    session.flush()
    return user


def _block_state(user: User, now: datetime) -> dict[str, Any]:
    if not user.is_blocked(now):
        return {"blocked_until": None}
    assert user.participation_blocked_until is not None
    return {"blocked_until": user.participation_blocked_until.isoformat(), "reason": user.participation_block_reason}
