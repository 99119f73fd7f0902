"""Reports: once per person and item, `other` needs a text, and at the threshold the item is
hidden pending moderation (its author and moderators still see it) with an audit entry."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.policy import Principal
from app.audit import service as audit
from app.moderation import service
from app.moderation.models import Report, ReportReason
from app.proposals import service as proposals
from app.proposals.models import Comment, Proposal
from app.proposals.schemas import CommentDraft
from app.territory.models import Axis
from tests.factories import NOW, make_consultation, make_proposal, make_user

HIDDEN_REASON = "Masqué automatiquement après plusieurs signalements, en attente d’un modérateur."


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def moderator(session: Session) -> Principal:
    user = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == 1)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return accounts.load_principal(session, user)


def report(session: Session, principal: Principal, target: Proposal | Comment, *,
           reason: ReportReason = ReportReason.spam, text: str | None = None, threshold: int = 3) -> Report:
    kind = "proposal" if isinstance(target, Proposal) else "comment"
    return service.report(session, principal, target_type=kind, target_id=target.id or 0, reason=reason, text=text,
                          now=NOW, threshold=threshold)


def a_comment(session: Session, proposal: Proposal, author: Principal | None = None) -> Comment:
    return proposals.add_comment(session, author or resident(session), proposal, CommentDraft(body="Un avis."),
                                 now=NOW)


def test_a_report_is_recorded(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    reporter = resident(session)
    entry = report(session, reporter, proposal, reason=ReportReason.personal_data, text="  Mon adresse y figure.  ")
    assert entry.id is not None
    assert (entry.target_type, entry.target_key, entry.proposal_id, entry.comment_id) == (
        "proposal", f"proposal:{proposal.id}", proposal.id, None)
    assert (entry.reporter_id, entry.reason, entry.text, entry.created_at, entry.resolved_at) == (
        reporter.id, "personal_data", "Mon adresse y figure.", NOW, None)
    assert proposal.state == "published"


def test_once_per_person_and_item(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session))
    posted = a_comment(session, proposal)
    reporter = resident(session)
    report(session, reporter, proposal)
    with pytest.raises(service.AlreadyReported) as refused:
        report(session, reporter, proposal, reason=ReportReason.offensive)
    assert (refused.value.status_code, refused.value.code) == (409, "already-reported")
    # The same person may report another item, and a comment of that proposal.
    report(session, reporter, posted)
    report(session, reporter, make_proposal(session, consultation, make_user(session)))
    count = session.exec(select(func.count()).select_from(Report).where(Report.reporter_id == reporter.id)).one()
    assert count == 3


def test_the_database_refuses_a_second_report(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    reporter = resident(session)
    report(session, reporter, proposal)
    session.add(Report(target_type="proposal", target_key=f"proposal:{proposal.id}", proposal_id=proposal.id,
                       reporter_id=reporter.id, reason="spam", created_at=NOW))
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


@pytest.mark.parametrize("text", [None, "", "   "])
def test_other_needs_a_text(session: Session, text: str | None) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    with pytest.raises(service.InvalidReport) as refused:
        report(session, resident(session), proposal, reason=ReportReason.other, text=text)
    assert (refused.value.status_code, refused.value.code) == (422, "invalid-report")
    assert report(session, resident(session), proposal, reason=ReportReason.other, text="Publicité déguisée").text == (
        "Publicité déguisée")


def test_texts_are_cut_at_the_maximum(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    entry = report(session, resident(session), proposal, reason=ReportReason.other, text="x" * 5000)
    assert entry.text == "x" * service.MAX_TEXT


def audit_of(session: Session, kind: str, target_id: int | None) -> list[str]:
    return [entry.action for entry in audit.entries_for(session, target_type=kind, target_id=target_id)]


def test_a_proposal_is_hidden_at_the_threshold(session: Session) -> None:
    consultation = make_consultation(session)
    author = resident(session)
    proposal = make_proposal(session, consultation, author.user)
    for n in range(2):
        report(session, resident(session), proposal)
        assert proposal.state == "published", n
    assert audit_of(session, "proposal", proposal.id) == []
    report(session, resident(session), proposal)
    assert (proposal.state, proposal.moderation_reason) == ("hidden", HIDDEN_REASON)
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=proposal.id)
    assert (entry.action, entry.actor_id, entry.after) == ("content.hidden", None, {"reason": "reports_threshold"})
    # The public no longer sees it; its author and the moderators do.
    with pytest.raises(proposals.ProposalNotFound):
        proposals.get(session, proposal.id or 0, principal=None)
    with pytest.raises(proposals.ProposalNotFound):
        proposals.get(session, proposal.id or 0, principal=resident(session))
    assert proposals.get(session, proposal.id or 0, principal=author) is proposal
    assert proposals.get(session, proposal.id or 0, principal=moderator(session)) is proposal
    assert proposals.list_proposals(session, consultation).total == 0
    # Nobody else can report it any more (they cannot see it); a moderator's report hides nothing twice.
    with pytest.raises(proposals.ProposalNotFound):
        report(session, resident(session), proposal)
    report(session, moderator(session), proposal)
    assert audit_of(session, "proposal", proposal.id) == ["content.hidden"]


def test_the_threshold_is_a_setting(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    report(session, resident(session), proposal, threshold=1)
    assert proposal.state == "hidden"


def test_resolved_reports_do_not_count(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    for _ in range(2):
        report(session, resident(session), proposal).resolved_at = NOW
    session.flush()
    report(session, resident(session), proposal)
    assert proposal.state == "published"


def test_the_audit_log_says_what_happened_to_a_withdrawn_proposal(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session), state="withdrawn")
    for _ in range(3):
        report(session, resident(session), proposal)
    assert audit_of(session, "proposal", proposal.id) == (["content.hidden"] if proposal.state == "hidden" else [])


def test_reports_by_those_who_still_see_a_hidden_item(session: Session) -> None:
    """Its author and moderators may report a proposal hidden or pending: no error, no second hiding."""
    consultation = make_consultation(session, is_premoderated=True)
    author = resident(session)
    pending = make_proposal(session, consultation, author.user, state="pending")
    for principal in (author, moderator(session), moderator(session)):
        report(session, principal, pending, threshold=1)
    assert pending.state == "pending"
    assert audit_of(session, "proposal", pending.id) == []


def test_a_comment_is_hidden_at_the_threshold(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = resident(session)
    posted = a_comment(session, proposal, author)
    reply = proposals.add_comment(session, resident(session), proposal,
                                  CommentDraft(body="Une réponse.", parent_id=posted.id), now=NOW)
    session.refresh(proposal)
    assert proposal.comments_count == 2
    for _ in range(3):
        report(session, resident(session), posted)
    assert (posted.state, posted.moderation_reason) == ("hidden", HIDDEN_REASON)
    assert audit_of(session, "comment", posted.id) == ["content.hidden"]
    (node,) = proposals.comment_tree(session, proposal)
    assert node.comment.id == posted.id
    assert node.author_name is None  # shown without its text or its author
    assert [r.comment.id for r in node.replies] == [reply.id]
    # The count shows what readers see.
    session.refresh(proposal)
    assert proposal.comments_count == 1
    # Its author deleting it afterwards does not count it out twice.
    proposals.delete_comment(session, author, posted, now=NOW)
    session.refresh(proposal)
    assert proposal.comments_count == 1


def test_reporting_unknown_items(session: Session) -> None:
    with pytest.raises(proposals.ProposalNotFound):
        service.report(session, resident(session), target_type="proposal", target_id=10**9,
                       reason=ReportReason.spam, text=None, now=NOW, threshold=3)
    with pytest.raises(proposals.CommentNotFound):
        service.report(session, resident(session), target_type="comment", target_id=10**9,
                       reason=ReportReason.spam, text=None, now=NOW, threshold=3)
