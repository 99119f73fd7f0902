"""Official answers, and the actions accepted proposals become: create, edit, progress updates, read.

A moderator of the proposal's consultation (its axis, or the consultation itself) answers it:
`evaluating`, `accepted` or `rejected`, with a public text in Markdown. Accepting creates the
action in the same transaction. Each act is audited, and the people following the proposal (or
the action) are notified in the same transaction."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.policy import Action, Principal, can
from app.actions.models import ActionProposal, ActionStatus, ActionUpdate, PublicAction
from app.actions.schemas import AcceptedAction, ActionDraft, ActionPatch, UpdateDraft
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Consultation, ConsultationStatus
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_
from app.core.markdown import render_markdown
from app.core.templating import PARIS
from app.moderation import merging
from app.notifications import service as notifications
from app.notifications.models import FollowTarget, NotificationKind
from app.proposals import service as proposals
from app.proposals.models import PUBLIC_STATES, VISIBLE_STATES, Proposal, ProposalState
from app.territory.models import Axis

ANSWER_STATES = (ProposalState.evaluating, ProposalState.accepted, ProposalState.rejected)
MAX_PAGE = 100


class ActionNotFound(NotFound):
    message = N_("Cette action n’existe pas.")


class NotAnswerable(Conflict):
    code = "not-answerable"
    message = N_(
        "Seule une proposition publiée, à l’étude, retenue ou non retenue peut recevoir une réponse officielle."
    )


class ActionAlreadyFollows(Conflict):
    code = "action-exists"
    message = N_(
        "Cette proposition a été retenue et une action en découle : faites évoluer l’action "
        "(par exemple en l’abandonnant) plutôt que de changer la réponse."
    )


class InvalidAction(Conflict):
    status_code = 422
    code = "invalid"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the form field at fault, for pages that show the error beside it


def _require(principal: Principal, action: Action, consultation: Consultation) -> None:
    allowed = can(principal, action, consultations.scope_of(consultation))
    if not allowed:
        raise Forbidden(allowed.reason)


def can_answer(principal: Principal | None, consultation: Consultation) -> bool:
    return bool(can(principal, Action.answer_proposals, consultations.scope_of(consultation)))


def can_manage(principal: Principal | None, consultation: Consultation) -> bool:
    return bool(can(principal, Action.manage_actions, consultations.scope_of(consultation)))


def _label(principal: Principal) -> str:
    return principal.user.display_name or ""


def today(now: datetime) -> date:
    """The platform's day (Europe/Paris) at `now`."""
    return now.astimezone(PARIS).date()


def _lock_proposal(session: Session, proposal: Proposal) -> None:
    """Lock the proposal's row (as supports and merges do) and read it as committed: two moderators
    answering at once are serialised, and a merge cannot slip between the check and the change."""
    session.execute(
        select(Proposal.id).where(col(Proposal.id) == proposal.id).with_for_update(key_share=True)
    )
    session.refresh(proposal)


# --- official answers


@dataclass(frozen=True)
class Answer:
    proposal: Proposal
    action: PublicAction | None  # created by this acceptance


def answer(session: Session, principal: Principal, proposal: Proposal, *, state: str, text: str, now: datetime,
           action: AcceptedAction | None = None) -> Answer:
    """Set the proposal's state and its public answer. Accepting it creates its action (title, owner,
    budget, planned dates from `action`, the proposal's title and cost by default) unless one already
    follows it; an answer changed later is audited again and told to followers again."""
    if state not in ANSWER_STATES:
        raise InvalidAction(N_("Choisissez : à l’étude, retenue ou non retenue."), field="state")
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    _require(principal, Action.answer_proposals, consultation)
    _lock_proposal(session, proposal)
    if proposal.state not in VISIBLE_STATES:
        raise NotAnswerable()
    existing = action_ids_of(session, [proposal.id or 0])
    if existing and state != ProposalState.accepted:
        raise ActionAlreadyFollows()
    before = {"state": proposal.state, "official_answer": proposal.official_answer}
    proposal.state = state
    proposal.official_answer = text
    proposal.answered_at = now
    proposal.updated_at = now
    session.add(proposal)
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="proposal.answered",
                 target_type="proposal", target_id=proposal.id, now=now, before=before,
                 after={"state": state, "official_answer": text})
    created = None
    if state == ProposalState.accepted and not existing:
        fields = action or AcceptedAction()
        draft = ActionDraft(
            title=fields.title or proposal.title[:200], description=fields.description, owner=fields.owner,
            budget=fields.budget if fields.budget is not None else proposal.estimated_cost,
            planned_start=fields.planned_start, planned_end=fields.planned_end,
        )
        created = _create(session, principal, consultation, draft, [proposal], now=now)
    recipients = notifications.followers(session, FollowTarget.proposal, [proposal.id or 0]) | {proposal.author_id}
    notifications.notify(
        session, recipients, kind=NotificationKind.official_answer, target_type="proposal",
        target_id=proposal.id or 0, url=f"/propositions/{proposal.id}", now=now, exclude=principal.id,
        title=N_("Réponse officielle à la proposition « %(title)s »") % {"title": proposal.title},
    )
    return Answer(proposal, created)


def answer_html(proposal: Proposal) -> str:
    """The official answer as shown: Markdown, rendered and sanitised."""
    return render_markdown(proposal.official_answer) if proposal.official_answer else ""


# --- actions


def _create(session: Session, principal: Principal, consultation: Consultation, draft: ActionDraft,
            origins: list[Proposal], *, now: datetime) -> PublicAction:
    item = PublicAction(
        consultation_id=consultation.id or 0, title=draft.title, description=draft.description,
        description_html=render_markdown(draft.description) if draft.description else "", owner=draft.owner,
        budget=draft.budget, planned_start=draft.planned_start, planned_end=draft.planned_end,
        status=ActionStatus.planned, progress=0, created_by_id=principal.id, created_at=now, updated_at=now,
    )
    session.add(item)
    session.flush()
    for origin in origins:
        session.add(ActionProposal(action_id=item.id or 0, proposal_id=origin.id or 0))
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="action.created",
                 target_type="action", target_id=item.id, now=now,
                 after={**_fields(item), "proposal_ids": [p.id for p in origins]})
    return item


def _fields(item: PublicAction) -> dict[str, Any]:
    return {
        "title": item.title, "description": item.description, "owner": item.owner, "budget": item.budget,
        "planned_start": item.planned_start.isoformat() if item.planned_start else None,
        "planned_end": item.planned_end.isoformat() if item.planned_end else None,
        "status": item.status, "progress": item.progress,
    }


def create_action(session: Session, principal: Principal, consultation: Consultation, draft: ActionDraft,
                  proposal_ids: list[int], *, now: datetime) -> PublicAction:
    """An action of a consultation, by one of its moderators; the proposals it comes from must be
    accepted proposals of that consultation."""
    _require(principal, Action.manage_actions, consultation)
    origins = []
    for proposal_id in sorted(set(proposal_ids)):
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.consultation_id != consultation.id:
            raise InvalidAction(N_("Ces propositions ne font pas partie de cette consultation."), field="proposals")
        if proposal.state != ProposalState.accepted:
            raise InvalidAction(N_("Une action découle de propositions retenues : retenez-les d’abord."),
                                field="proposals")
        origins.append(proposal)
    return _create(session, principal, consultation, draft, origins, now=now)


def edit_action(session: Session, principal: Principal, item: PublicAction, patch: ActionPatch, *,
                now: datetime) -> PublicAction:
    consultation = consultations.get(session, item.consultation_id, principal=principal)
    _require(principal, Action.manage_actions, consultation)
    before = _fields(item)
    changes = patch.model_dump(exclude_unset=True)
    for name in ("title", "owner"):
        if changes.get(name) is not None:
            setattr(item, name, changes[name])
    if changes.get("description") is not None:
        item.description = changes["description"]
        item.description_html = render_markdown(item.description) if item.description else ""
    for name in ("budget", "planned_start", "planned_end"):
        if name in changes:
            setattr(item, name, changes[name])
    if item.planned_start and item.planned_end and item.planned_start > item.planned_end:
        raise InvalidAction(N_("La fin prévue ne peut pas précéder le début prévu."), field="planned_end")
    item.updated_at = now
    session.add(item)
    session.flush()
    after = _fields(item)
    if after != before:
        audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="action.edited",
                     target_type="action", target_id=item.id, now=now, before=before, after=after)
    return item


def add_update(session: Session, principal: Principal, item: PublicAction, draft: UpdateDraft, *,
               now: datetime) -> ActionUpdate:
    """A dated progress update. The action takes the status and progress of its latest update (by
    date; a backdated one joins the timeline without turning the action back). The action's row is
    locked, so concurrent updates leave it as the latest says."""
    consultation = consultations.get(session, item.consultation_id, principal=principal)
    _require(principal, Action.manage_actions, consultation)
    if draft.occurred_on > today(now):
        raise InvalidAction(N_("La date ne peut pas être dans le futur."), field="occurred_on")
    session.execute(
        select(PublicAction.id).where(col(PublicAction.id) == item.id).with_for_update(key_share=True)
    )
    session.refresh(item)
    before = {"status": item.status, "progress": item.progress}
    entry = ActionUpdate(action_id=item.id or 0, occurred_on=draft.occurred_on, body=draft.body,
                         body_html=render_markdown(draft.body), status=draft.status, progress=draft.progress,
                         author_id=principal.id, created_at=now)
    session.add(entry)
    session.flush()
    latest = session.exec(
        select(ActionUpdate).where(ActionUpdate.action_id == item.id)
        .order_by(col(ActionUpdate.occurred_on).desc(), col(ActionUpdate.id).desc()).limit(1)
    ).one()
    item.status, item.progress, item.updated_at = latest.status, latest.progress, now
    session.add(item)
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="action.progress",
                 target_type="action", target_id=item.id, now=now, before=before,
                 after={"status": item.status, "progress": item.progress, "update_id": entry.id,
                        "occurred_on": draft.occurred_on.isoformat(), "update_status": draft.status,
                        "update_progress": draft.progress})
    origin_ids = proposal_ids_of(session, item)
    recipients = (notifications.followers(session, FollowTarget.action, [item.id or 0])
                  | notifications.followers(session, FollowTarget.proposal, origin_ids))
    notifications.notify(
        session, recipients, kind=NotificationKind.action_progress, target_type="action", target_id=item.id or 0,
        url=f"/actions/{item.id}", now=now, exclude=principal.id,
        title=N_("Avancement de l’action « %(title)s » : %(progress)s %%") % {"title": item.title,
                                                                             "progress": draft.progress},
    )
    return entry


# --- reading


def get_action(session: Session, action_id: int, *, principal: Principal | None = None) -> PublicAction:
    """An action of a consultation the asker may see (drafts: their moderators only)."""
    item = session.get(PublicAction, action_id)
    if item is None:
        raise ActionNotFound()
    try:
        consultations.get(session, item.consultation_id, principal=principal)
    except NotFound:
        raise ActionNotFound() from None
    return item


@dataclass(frozen=True)
class ActionRow:
    action: PublicAction
    consultation: Consultation
    axis: Axis


@dataclass(frozen=True)
class ActionList:
    items: list[ActionRow]
    total: int
    limit: int
    offset: int


def list_actions(session: Session, *, axis_id: int | None = None, status: str | None = None,
                 consultation_id: int | None = None, limit: int = 20, offset: int = 0) -> ActionList:
    """Actions of published (and archived) consultations, most recently changed first."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(PublicAction, Consultation, Axis)
        .join(Consultation, col(Consultation.id) == PublicAction.consultation_id)
        .join(Axis, col(Axis.id) == Consultation.axis_id)
        .where(col(Consultation.status).in_([ConsultationStatus.published, ConsultationStatus.archived]))
    )
    if axis_id is not None:
        query = query.where(Consultation.axis_id == axis_id)
    if status in {s.value for s in ActionStatus}:
        query = query.where(PublicAction.status == status)
    if consultation_id is not None:
        query = query.where(PublicAction.consultation_id == consultation_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(PublicAction.updated_at).desc(), col(PublicAction.id).desc()).limit(limit)
        .offset(max(0, offset))
    )
    return ActionList([ActionRow(a, c, x) for a, c, x in rows], total, limit, max(0, offset))


def updates_of(session: Session, item: PublicAction) -> list[ActionUpdate]:
    """The timeline, latest first."""
    return list(session.exec(
        select(ActionUpdate).where(ActionUpdate.action_id == item.id)
        .order_by(col(ActionUpdate.occurred_on).desc(), col(ActionUpdate.id).desc())
    ))


def proposal_ids_of(session: Session, item: PublicAction) -> list[int]:
    return list(session.exec(
        select(ActionProposal.proposal_id).where(ActionProposal.action_id == item.id)
        .order_by(col(ActionProposal.proposal_id))
    ))


def proposals_of(session: Session, item: PublicAction) -> list[Proposal]:
    """The proposals the action comes from, as the public may see them (merged ones too: their page
    says which proposal they were merged into)."""
    ids = proposal_ids_of(session, item)
    if not ids:
        return []
    return list(session.exec(
        select(Proposal).where(col(Proposal.id).in_(ids),
                               col(Proposal.state).in_([*PUBLIC_STATES, ProposalState.merged]))
        .order_by(col(Proposal.id))
    ))


def action_ids_of(session: Session, proposal_ids: list[int]) -> list[int]:
    if not proposal_ids:
        return []
    return list(session.exec(
        select(ActionProposal.action_id).where(col(ActionProposal.proposal_id).in_(proposal_ids))
        .order_by(col(ActionProposal.action_id))
    ))


def actions_of_proposal(session: Session, proposal: Proposal) -> list[PublicAction]:
    ids = action_ids_of(session, [proposal.id or 0])
    if not ids:
        return []
    return list(session.exec(select(PublicAction).where(col(PublicAction.id).in_(ids)).order_by(col(PublicAction.id))))


@merging.on_merge
def _actions_follow_the_merge(session: Session, into: Proposal, merged: list[Proposal], now: datetime) -> None:
    """An action of a duplicate also comes from the proposal that stays (both stay linked)."""
    linked = set(action_ids_of(session, [into.id or 0]))
    for action_id in action_ids_of(session, [p.id or 0 for p in merged]):
        if action_id not in linked:
            session.add(ActionProposal(action_id=action_id, proposal_id=into.id or 0))
            linked.add(action_id)
    session.flush()


@proposals.on_proposal_page
def _proposal_page_extras(session: Session, proposal: Proposal, principal: Principal | None) -> dict[str, Any]:
    """What the proposal page shows of the answer (its rendered text, the actions it led to) and,
    to its moderators, the links to answer it and to merge duplicates into it."""
    consultation = session.get(Consultation, proposal.consultation_id)
    assert consultation is not None
    visible = proposal.state in VISIBLE_STATES
    return {
        "official_answer_html": answer_html(proposal), "actions": actions_of_proposal(session, proposal),
        "can_answer": visible and can_answer(principal, consultation),
        "can_merge": visible and bool(can(principal, Action.moderate_content, consultations.scope_of(consultation))),
    }
