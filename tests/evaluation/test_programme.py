"""The programme's trace on axis pages: figures at every step, public ones only."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.actions import evaluations
from app.actions.models import ActionProposal, ActionUpdate, PublicAction
from app.consultations.models import Consultation
from app.evaluation.programme import axis_trace
from app.proposals.models import ProposalState
from app.territory.models import Axis
from app.voting.models import SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user


def _setup(session: Session) -> tuple[int, Consultation]:
    consultation = make_consultation(session, phase="follow_up", axis_number=5)
    author = make_user(session)
    accepted = make_proposal(session, consultation, author, state=ProposalState.accepted, official_answer="Oui")
    make_proposal(session, consultation, author, state=ProposalState.rejected, official_answer="Non")
    make_proposal(session, consultation, author, state=ProposalState.hidden)
    make_proposal(session, consultation, author, state=ProposalState.pending)
    for _ in range(3):
        session.add(SupportVote(proposal_id=accepted.id or 0, consultation_id=consultation.id or 0,
                                voter_id=make_user(session).id, cast_at=NOW))
    action = PublicAction(consultation_id=consultation.id or 0, title="Action", owner="CALL", progress=40,
                          status="in_progress", created_at=NOW, updated_at=NOW)
    session.add(action)
    session.flush()
    session.add(ActionProposal(action_id=action.id or 0, proposal_id=accepted.id or 0))
    session.add(ActionUpdate(action_id=action.id or 0, occurred_on=NOW.date(), body="Début", body_html="<p>Début</p>",
                             status="in_progress", progress=40, created_at=NOW))
    for rating in (3, 5):
        evaluations.evaluate(session, accounts.load_principal(session, make_user(session)), action, rating=rating,
                             comment=None, now=NOW)
    session.flush()
    return consultation.axis_id, consultation


def test_each_step_is_counted(session: Session) -> None:
    axis_id, consultation = _setup(session)
    trace = axis_trace(session, axis_id, now=NOW)
    [row] = [row for row in trace.rows if row.consultation is consultation or row.consultation.id == consultation.id]
    assert row.proposals == 2  # hidden and pending ones are not public
    assert row.votes == 3
    assert row.answered == {"evaluating": 0, "accepted": 1, "rejected": 1}
    assert row.actions == 1
    assert row.actions_by_status["in_progress"] == 1
    assert row.average_progress == 40
    assert row.updates == 1
    assert row.ratings == 2
    assert row.average_rating == 4
    assert trace.total.proposals >= 2


def test_votes_stay_hidden_until_the_end_when_the_rules_say_so(session: Session) -> None:
    consultation = make_consultation(session, phase="voting", axis_number=6, results_hidden_until_end=True)
    proposal = make_proposal(session, consultation, make_user(session))
    session.add(SupportVote(proposal_id=proposal.id or 0, consultation_id=consultation.id or 0,
                            voter_id=make_user(session).id, cast_at=NOW))
    session.flush()
    trace = axis_trace(session, consultation.axis_id, now=NOW)
    [row] = [row for row in trace.rows if row.consultation.id == consultation.id]
    assert row.votes is None


def test_drafts_are_not_traced(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", axis_number=7, status="draft")
    trace = axis_trace(session, consultation.axis_id, now=NOW)
    assert all(row.consultation.id != consultation.id for row in trace.rows)


def test_the_axis_page_shows_the_trace(session: Session, client: TestClient) -> None:
    axis_id, _consultation = _setup(session)
    axis = session.get(Axis, axis_id)
    page = client.get(f"/axes/{axis.slug}")
    assert page.status_code == 200
    assert "Ce que sont devenues les propositions" in page.text
    assert "4 sur 5 (2 avis)" in page.text or "4 sur 5" in page.text
