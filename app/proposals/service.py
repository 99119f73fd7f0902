"""Proposals and comments: submit, edit, withdraw, list, search; comment, reply, edit, delete."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, update
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.policy import Decision, Principal
from app.accounts.service import display_name_of, export_section
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.policy import participation_block, phase_allows
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_, gettext
from app.core.markdown import render_markdown
from app.notifications import service as notifications
from app.notifications.models import FollowTarget, NotificationKind
from app.proposals.models import (
    MAX_COMMENT_DEPTH,
    PUBLIC_STATES,
    VISIBLE_STATES,
    Comment,
    CommentState,
    Proposal,
    ProposalState,
)
from app.proposals.schemas import CommentDraft, CommentPatch, ProposalDraft, ProposalPatch
from app.proposals.search import matching_ids, search_text_of
from app.territory.models import Commune

SORTS = ("random", "supports", "recent", "comments")
MAX_PAGE = 100


class ProposalNotFound(NotFound):
    message = N_("Cette proposition n’existe pas.")


class CommentNotFound(NotFound):
    message = N_("Ce commentaire n’existe pas.")


class PhaseClosed(Conflict):
    code = "phase-closed"


class NotEligible(Forbidden):
    code = "not-eligible"


class NotTheAuthor(Forbidden):
    code = "not-author"
    message = N_("Seul son auteur ou son autrice peut modifier ce contenu.")


class EditLocked(Conflict):
    code = "edit-locked"
    message = N_(
        "Cette proposition ne peut plus être modifiée : "
        "la phase de propositions est close ou elle a déjà reçu des votes."
    )


class InvalidProposal(Conflict):
    status_code = 422
    code = "invalid"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the form field at fault, for pages that show the error beside it


class CannotWithdraw(Conflict):
    code = "cannot-withdraw"
    message = N_("Une proposition masquée par la modération ne peut pas être retirée.")


class CannotComment(Conflict):
    code = "cannot-comment"
    message = N_("On ne peut pas commenter cette proposition.")


WithdrawalHook = Callable[[Session, Proposal, datetime], None]
_withdrawal_hooks: list[WithdrawalHook] = []


def on_withdrawal(hook: WithdrawalHook) -> WithdrawalHook:
    """Register what another domain must do when a proposal is withdrawn (e.g. give supports back)."""
    _withdrawal_hooks.append(hook)
    return hook


PageHook = Callable[[Session, Proposal, Principal | None], dict[str, Any]]
_page_hooks: list[PageHook] = []


def on_proposal_page(hook: PageHook) -> PageHook:
    """Register what another domain adds to the proposal page (e.g. the actions it led to)."""
    _page_hooks.append(hook)
    return hook


def page_extras(session: Session, proposal: Proposal, principal: Principal | None = None) -> dict[str, Any]:
    """What the proposal page shows besides the proposal: the one it was merged into, and what
    the domains registered with `on_proposal_page` add."""
    merged_into = session.get(Proposal, proposal.merged_into_id) if proposal.merged_into_id else None
    extras: dict[str, Any] = {"merged_into": merged_into}
    for hook in _page_hooks:
        extras.update(hook(session, proposal, principal))
    return extras


def _is_moderator(principal: Principal | None, consultation: Consultation) -> bool:
    return consultations.can_manage(principal, consultation)


def can_see(principal: Principal | None, proposal: Proposal, consultation: Consultation) -> bool:
    if proposal.state in PUBLIC_STATES:
        return True
    if proposal.state == ProposalState.merged:
        return True  # its page says which proposal it was merged into
    if principal is not None and principal.id == proposal.author_id:
        return True  # authors see their pending or hidden proposals, with the reason
    return _is_moderator(principal, consultation)


def get(session: Session, proposal_id: int, *, principal: Principal | None = None) -> Proposal:
    return get_with_consultation(session, proposal_id, principal=principal)[0]


def get_with_consultation(session: Session, proposal_id: int, *,
                          principal: Principal | None = None) -> tuple[Proposal, Consultation]:
    """A proposal the asker may see, with its consultation (the caller keeps it: the session's
    identity map holds objects weakly, so asking for it again later may cost a query)."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise ProposalNotFound()
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    if not can_see(principal, proposal, consultation):
        raise ProposalNotFound()
    return proposal, consultation


def _check_commune(session: Session, code: str | None) -> None:
    if code is not None and session.get(Commune, code) is None:
        raise InvalidProposal(N_("Cette commune ne fait pas partie du territoire."), field="commune")


def check_can_submit(session: Session, principal: Principal, consultation: Consultation, *, now: datetime) -> None:
    """Proposals are submitted only in the proposals phase, only by an eligible resident."""
    allowed = phase_allows(consultation, "propose", now)
    if not allowed:
        raise PhaseClosed(allowed.reason)
    eligible = consultations.check_eligibility(session, principal.user, consultation, now=now)
    if not eligible:
        raise NotEligible(eligible.reason)


def submit(session: Session, principal: Principal, consultation: Consultation, draft: ProposalDraft, *,
           now: datetime, channel: str = "online") -> Proposal:
    """Submit a proposal: only in the proposals phase, only by an eligible resident."""
    check_can_submit(session, principal, consultation, now=now)
    _check_commune(session, draft.commune)
    if consultation.voting_method == VotingMethod.budget and draft.estimated_cost is None:
        raise InvalidProposal(N_("Indiquez un coût estimé : cette consultation est un budget participatif."),
                              field="estimated_cost")
    proposal = Proposal(
        consultation_id=consultation.id or 0, author_id=principal.id, title=draft.title, body=draft.body,
        body_html=render_markdown(draft.body), search_text=search_text_of(draft.title, draft.body),
        commune_insee=draft.commune, estimated_cost=draft.estimated_cost, channel=channel,
        state=ProposalState.pending if consultation.is_premoderated else ProposalState.published,
        created_at=now, updated_at=now,
    )
    session.add(proposal)
    session.flush()
    # Authors follow their proposal, and the consultation they took part in.
    notifications.follow(session, principal.id, FollowTarget.proposal, proposal.id or 0, now=now)
    notifications.follow(session, principal.id, FollowTarget.consultation, consultation.id or 0, now=now)
    return proposal


def can_edit(principal: Principal | None, proposal: Proposal, consultation: Consultation, now: datetime) -> bool:
    return (
        principal is not None and principal.id == proposal.author_id
        and proposal.state in (ProposalState.published, ProposalState.pending)
        and proposal.first_vote_at is None and proposal.supports_count == 0
        and bool(phase_allows(consultation, "propose", now))
        and bool(participation_block(principal.user, now))
    )


def edit(session: Session, principal: Principal, proposal: Proposal, patch: ProposalPatch, *,
         now: datetime) -> Proposal:
    """Only its author, only in the proposals phase, only before anyone votes on it."""
    if principal.id != proposal.author_id:
        raise NotTheAuthor()
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    blocked = participation_block(principal.user, now)
    if not blocked:
        raise NotEligible(blocked.reason)
    if not can_edit(principal, proposal, consultation, now):
        raise EditLocked()
    changes = patch.model_dump(exclude_unset=True)
    if "commune" in changes:
        _check_commune(session, patch.commune)
        proposal.commune_insee = patch.commune
    if patch.title is not None:
        proposal.title = patch.title
    if patch.body is not None:
        proposal.body = patch.body
        proposal.body_html = render_markdown(patch.body)
    if "estimated_cost" in changes:
        if consultation.voting_method == VotingMethod.budget and patch.estimated_cost is None:
            raise InvalidProposal(N_("Indiquez un coût estimé : cette consultation est un budget participatif."),
                                  field="estimated_cost")
        proposal.estimated_cost = patch.estimated_cost
    proposal.search_text = search_text_of(proposal.title, proposal.body)
    proposal.updated_at = now
    session.add(proposal)
    session.flush()
    return proposal


def withdraw(session: Session, principal: Principal, proposal: Proposal, *, now: datetime) -> Proposal:
    """The author withdraws it, at any time: it stays visible as withdrawn, its votes stop counting."""
    if principal.id != proposal.author_id:
        raise NotTheAuthor()
    if proposal.state == ProposalState.withdrawn:
        return proposal
    if proposal.state == ProposalState.hidden:  # withdrawn, it would be public again
        raise CannotWithdraw()
    # One conditional UPDATE: of two concurrent withdrawals (a double click), only the one that
    # changes the state runs the hooks, which give the supports back.
    changed = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal.id, col(Proposal.state) != ProposalState.withdrawn,
               col(Proposal.state) != ProposalState.hidden)
        .values(state=ProposalState.withdrawn, withdrawn_at=now, updated_at=now)
    ).rowcount
    session.refresh(proposal)
    if not changed:
        return proposal
    for hook in _withdrawal_hooks:
        hook(session, proposal, now)
    return proposal


@dataclass(frozen=True)
class ProposalRow:
    proposal: Proposal
    author_name: str


@dataclass(frozen=True)
class ProposalList:
    items: list[ProposalRow]
    total: int
    limit: int
    offset: int


SEED_PERIOD = 600  # seconds: how long visitors arriving meanwhile share one shuffled order


def seed_of_the_moment(now: datetime) -> int:
    """The shuffle seed for visitors arriving now: the same for everyone during ten minutes, then
    another, so that over a day every proposal takes its turn on the first page."""
    period = int(now.timestamp()) // SEED_PERIOD
    return period * 2_654_435_761 % (2**31 - 1) or 1


SHUFFLE_PRIME = 2_147_483_647  # 2**31 - 1: a key below it squares within 64-bit integers


def _shuffled(seed: int) -> Any:
    """A sort key that shuffles proposals, the same for a given seed: k = (48271·id + s) mod p,
    then k² mod p, where s comes from the seed. The square matters: a key linear in the id
    (id·a + seed) only rotates one fixed order, so that whatever the seed the same proposals
    follow each other and many never reach the first page. 64-bit integers throughout: the
    products overflow PostgreSQL's 32-bit `integer`."""
    spread_seed = seed * 1_103_515_245 % SHUFFLE_PRIME  # neighbouring seeds give unrelated orders
    key = (cast(col(Proposal.id), BigInteger) * 48271 + spread_seed) % SHUFFLE_PRIME
    return key * key % SHUFFLE_PRIME


def list_proposals(session: Session, consultation: Consultation, *, q: str = "", commune: str | None = None,
                   state: str | None = None, sort: str = "random", seed: int = 1, limit: int = 20,
                   offset: int = 0) -> ProposalList:
    """Public proposals of a consultation, filtered, sorted and paged in SQL. The random order is a
    hash of the id and the visitor's seed, so it stays the same while they browse.

    Three short queries whatever the consultation's size: the count, then the page's ids, both
    answered from the listing index alone (ix_proposal_listing holds every column they filter and
    sort on), then the page's rows with their authors. Joining the authors before the LIMIT would
    make the database fetch every proposal's row (they are wide: texts and search data) to sort them."""
    limit = max(1, min(limit, MAX_PAGE))
    conditions: list[Any] = [Proposal.consultation_id == consultation.id]
    if state in {s.value for s in PUBLIC_STATES}:
        conditions.append(Proposal.state == state)
    else:
        conditions.append(col(Proposal.state).in_(PUBLIC_STATES))
    if commune:
        conditions.append(Proposal.commune_insee == commune)
    ids = matching_ids(session, q) if q else None
    if ids is not None:
        conditions.append(col(Proposal.id).in_(ids))
    total = session.exec(select(func.count()).select_from(Proposal).where(*conditions)).one()
    if sort == "supports":
        # A withdrawn proposal's supports no longer count: it ranks after every proposal still running.
        withdrawn_last = case((col(Proposal.state) == ProposalState.withdrawn, 1), else_=0)
        ordering: list[Any] = [withdrawn_last, col(Proposal.supports_count).desc(), col(Proposal.id)]
    elif sort == "recent":
        ordering = [col(Proposal.created_at).desc(), col(Proposal.id).desc()]
    elif sort == "comments":
        ordering = [col(Proposal.comments_count).desc(), col(Proposal.id)]
    else:
        ordering = [_shuffled(seed), col(Proposal.id)]
    page_ids = list(session.exec(
        select(Proposal.id).where(*conditions).order_by(*ordering).limit(limit).offset(max(0, offset))
    ))
    found = {
        proposal.id: (proposal, author) for proposal, author in session.exec(
            select(Proposal, User).join(User, col(User.id) == Proposal.author_id).where(col(Proposal.id).in_(page_ids))
        )
    } if page_ids else {}
    rows = [found[pid] for pid in page_ids if pid in found]
    return ProposalList([ProposalRow(p, display_name_of(u)) for p, u in rows], total, limit, max(0, offset))


def communes_of(session: Session, consultation: Consultation) -> list[Commune]:
    """The communes named by the consultation's public proposals, by name (the list's commune filter)."""
    used = select(Proposal.commune_insee).where(
        Proposal.consultation_id == consultation.id, col(Proposal.state).in_(PUBLIC_STATES)
    )
    return list(session.exec(
        select(Commune).where(col(Commune.insee_code).in_(used)).order_by(col(Commune.search_name))
    ))


def counts_by_state(session: Session, consultation: Consultation) -> dict[str, int]:
    rows = session.exec(
        select(Proposal.state, func.count()).where(Proposal.consultation_id == consultation.id)
        .group_by(col(Proposal.state))
    )
    return dict(rows.all())


# --- comments


@dataclass
class CommentNode:
    comment: Comment
    author_name: str | None  # None once deleted or hidden (but for its author and moderators)
    replies: list["CommentNode"] = field(default_factory=list)
    revealed: bool = False  # hidden by moderation, shown to its author or a moderator, marked so


def comment_tree(session: Session, proposal: Proposal, *, principal: Principal | None = None) -> list[CommentNode]:
    """All comments of a proposal as a tree, oldest first, in one query. Deleted or hidden ones
    keep their place (replies hang on them) without their text; a hidden one is shown, marked,
    to its author and to the consultation's moderators."""
    consultation = session.get(Consultation, proposal.consultation_id)
    moderator = principal is not None and consultation is not None and _is_moderator(principal, consultation)
    rows = session.exec(
        select(Comment, User).join(User, col(User.id) == Comment.author_id)
        .where(Comment.proposal_id == proposal.id).order_by(col(Comment.created_at), col(Comment.id))
    )
    nodes: dict[int, CommentNode] = {}
    roots: list[CommentNode] = []
    for comment, author in rows:
        revealed = comment.state == CommentState.hidden and principal is not None and (
            moderator or principal.id == comment.author_id)
        shown = comment.state == CommentState.published or revealed
        node = CommentNode(comment, display_name_of(author) if shown else None, revealed=revealed)
        nodes[comment.id or 0] = node
        parent = nodes.get(comment.parent_id or 0)
        (parent.replies if parent else roots).append(node)
    return roots


def can_comment(principal: Principal | None, proposal: Proposal, now: datetime | None = None) -> Decision:
    """Residents who declared their commune comment on proposals that are shown and not withdrawn
    (unless a moderator barred them from participating: pass `now` to check)."""
    if proposal.state not in VISIBLE_STATES:
        return Decision(False, gettext(CannotComment.message))
    if principal is None:
        return Decision(False, gettext("Connectez-vous pour commenter."))
    if principal.user.commune_insee is None:
        return Decision(False, gettext("Indiquez d’abord votre commune de résidence, depuis votre compte."))
    if now is not None:
        blocked = participation_block(principal.user, now)
        if not blocked:
            return blocked
    return Decision(True)


def visible_thread(nodes: list[CommentNode]) -> list[CommentNode]:
    """The thread as pages show it: a deleted or hidden comment keeps its place only while a
    shown reply hangs on it, at any depth."""
    kept = []
    for node in nodes:
        replies = visible_thread(node.replies)
        if node.comment.state == CommentState.published or node.revealed or replies:
            kept.append(CommentNode(node.comment, node.author_name, replies, node.revealed))
    return kept


def _check_can_comment(session: Session, principal: Principal, proposal: Proposal, now: datetime) -> None:
    allowed = can_comment(principal, proposal, now)
    if not allowed:
        raise CannotComment(allowed.reason)


def add_comment(session: Session, principal: Principal, proposal: Proposal, draft: CommentDraft, *,
                now: datetime) -> Comment:
    _check_can_comment(session, principal, proposal, now)
    depth = 0
    parent: Comment | None = None
    if draft.parent_id is not None:
        parent = session.get(Comment, draft.parent_id)
        if parent is None or parent.proposal_id != proposal.id:
            raise CommentNotFound()
        if parent.depth >= MAX_COMMENT_DEPTH:
            raise CannotComment(N_("On ne peut pas répondre plus loin dans cette discussion."))
        depth = parent.depth + 1
    comment = Comment(proposal_id=proposal.id or 0, parent_id=draft.parent_id, depth=depth, author_id=principal.id,
                      body=draft.body, body_html=render_markdown(draft.body), created_at=now, updated_at=now)
    session.add(comment)
    _bump_comments(session, proposal, +1)
    session.flush()
    # Commenters follow the proposal; whoever wrote the comment answered hears of the reply.
    notifications.follow(session, principal.id, FollowTarget.proposal, proposal.id or 0, now=now)
    if parent is not None and parent.state == CommentState.published:
        notifications.notify(
            session, [parent.author_id], kind=NotificationKind.comment_reply, target_type="comment",
            target_id=comment.id or 0, url=f"/propositions/{proposal.id}#comment-{comment.id}", now=now,
            title=N_("Nouvelle réponse à votre commentaire sur « %(title)s »") % {"title": proposal.title},
            exclude=principal.id,
        )
    return comment


def _bump_comments(session: Session, proposal: Proposal, delta: int) -> None:
    # One UPDATE: concurrent comments never lose a count.
    session.execute(
        Proposal.__table__.update()  # type: ignore[attr-defined]
        .where(Proposal.__table__.c.id == proposal.id)
        .values(comments_count=Proposal.__table__.c.comments_count + delta)
    )
    session.expire(proposal, ["comments_count"])


def get_comment(session: Session, comment_id: int, *, principal: Principal | None = None) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise CommentNotFound()
    get(session, comment.proposal_id, principal=principal)  # the proposal must be visible
    return comment


def edit_comment(session: Session, principal: Principal, comment: Comment, patch: CommentPatch, *,
                 now: datetime) -> Comment:
    if comment.author_id != principal.id:
        raise NotTheAuthor()
    if comment.state != CommentState.published:
        raise CannotComment(N_("Ce commentaire ne peut plus être modifié."))
    blocked = participation_block(principal.user, now)
    if not blocked:
        raise CannotComment(blocked.reason)
    comment.body = patch.body
    comment.body_html = render_markdown(patch.body)
    comment.updated_at = now
    session.add(comment)
    session.flush()
    return comment


def delete_comment(session: Session, principal: Principal, comment: Comment, *, now: datetime) -> Comment:
    """The author deletes it; "commentaire supprimé" stays where replies hang."""
    if comment.author_id != principal.id:
        raise NotTheAuthor()
    if comment.state == CommentState.deleted:
        return comment
    was_counted = comment.state == CommentState.published
    comment.state = CommentState.deleted
    comment.body = ""
    comment.body_html = ""
    comment.updated_at = now
    session.add(comment)
    if was_counted:
        proposal = session.get(Proposal, comment.proposal_id)
        assert proposal is not None
        _bump_comments(session, proposal, -1)
    session.flush()
    return comment


@export_section("proposals")
def _export_proposals(session: Session, user_id: int) -> list[dict[str, Any]]:
    rows = session.exec(select(Proposal).where(Proposal.author_id == user_id).order_by(col(Proposal.created_at)))
    return [{"id": p.id, "consultation_id": p.consultation_id, "title": p.title, "body": p.body, "state": p.state,
             "commune_insee": p.commune_insee, "estimated_cost": p.estimated_cost,
             "created_at": p.created_at.isoformat()} for p in rows]


@export_section("comments")
def _export_comments(session: Session, user_id: int) -> list[dict[str, Any]]:
    rows = session.exec(select(Comment).where(Comment.author_id == user_id).order_by(col(Comment.created_at)))
    return [{"id": c.id, "proposal_id": c.proposal_id, "parent_id": c.parent_id, "body": c.body, "state": c.state,
             "created_at": c.created_at.isoformat()} for c in rows]
