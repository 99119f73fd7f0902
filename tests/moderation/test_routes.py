"""Reporting a proposal or a comment from its page: once per person, with a reason; without
JavaScript a refused report comes back on a page of its own, with htmx in place."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts.models import User
from app.accounts.policy import Principal
from app.moderation.models import Report
from app.proposals import service as proposals_service
from app.proposals.models import Proposal
from app.proposals.schemas import CommentDraft
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import post, sign_in
from tests.support import assert_fragment, assert_page


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def proposal(session: Session) -> Proposal:
    made = make_proposal(session, make_consultation(session, phase="voting"), make_user(session))
    session.commit()
    return made


@pytest.fixture
def reporter(client: TestClient, app: FastAPI, session: Session) -> User:
    user = make_user(session)
    session.commit()
    sign_in(client, app, user)
    return user


def reports_by(session: Session, user: User) -> list[Report]:
    return list(session.exec(select(Report).where(Report.reporter_id == user.id)))


def test_the_report_form_is_offered_to_signed_in_people_but_the_author(client: TestClient, app: FastAPI,
                                                                      session: Session, proposal: Proposal) -> None:
    assert "Signaler cette proposition" not in assert_page(client.get(f"/propositions/{proposal.id}"))
    sign_in(client, app, make_user(session))
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert "Signaler cette proposition" in page
    for reason in ("spam", "offensive", "off_topic", "personal_data", "other"):
        assert f'value="{reason}"' in page
    author = session.get(User, proposal.author_id)
    assert author is not None
    sign_in(client, app, author)
    assert "Signaler cette proposition" not in assert_page(client.get(f"/propositions/{proposal.id}"))


def test_report_a_proposal_once_without_javascript(client: TestClient, session: Session, reporter: User,
                                                   proposal: Proposal) -> None:
    data = {"target_type": "proposal", "target_id": str(proposal.id), "reason": "spam", "text": ""}
    response = post(client, "/signalements", data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/propositions/{proposal.id}"
    assert "Merci : votre signalement est enregistré." in assert_page(client.get(response.headers["location"]))
    [report] = reports_by(session, reporter)
    assert (report.reason, report.proposal_id) == ("spam", proposal.id)
    again = assert_page(post(client, "/signalements", data), 409)
    assert "Vous avez déjà signalé ce contenu" in again
    assert len(reports_by(session, reporter)) == 1


def test_another_reason_needs_words_and_keeps_the_choice(client: TestClient, session: Session, reporter: User,
                                                         proposal: Proposal) -> None:
    data = {"target_type": "proposal", "target_id": str(proposal.id), "reason": "other", "text": "  "}
    page = assert_page(post(client, "/signalements", data), 422)
    assert "Précisez la raison du signalement." in page
    assert f'id="report-proposal-{proposal.id}-other" value="other" checked' in page
    fragment = assert_fragment(post(client, "/signalements", {**data, "reason": ""}, htmx=True), 422)
    assert f'<form id="report-proposal-{proposal.id}"' in fragment
    assert "Précisez la raison du signalement." in fragment
    assert reports_by(session, reporter) == []


def test_report_a_comment_with_htmx(client: TestClient, app: FastAPI, session: Session, reporter: User,
                                    proposal: Proposal) -> None:
    writer = make_user(session)
    comment = proposals_service.add_comment(session, Principal(writer), proposal, CommentDraft(body="Achetez ici !"),
                                            now=NOW)
    session.commit()
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert f'id="report-comment-{comment.id}"' in page
    response = post(client, "/signalements", {"target_type": "comment", "target_id": str(comment.id),
                                              "reason": "spam"}, htmx=True)
    text = assert_fragment(response)
    assert f'id="report-comment-{comment.id}"' in text
    assert "Merci : votre signalement est enregistré." in text
    [report] = reports_by(session, reporter)
    assert report.comment_id == comment.id


def test_the_threshold_hides_the_proposal_and_leads_back_to_the_consultation(
        client: TestClient, app: FastAPI, session: Session, proposal: Proposal) -> None:
    for _ in range(3):  # the default threshold
        sign_in(client, app, make_user(session))
        response = post(client, "/signalements", {"target_type": "proposal", "target_id": str(proposal.id),
                                                  "reason": "offensive"})
        assert response.status_code == 303
    session.refresh(proposal)
    assert proposal.state == "hidden"
    assert response.headers["location"].startswith("/consultations/")
    assert_page(client.get(f"/propositions/{proposal.id}"), 404)


def test_report_page_and_unknown_targets(client: TestClient, session: Session, reporter: User,
                                         proposal: Proposal) -> None:
    page = assert_page(client.get(f"/signalements?type=proposal&id={proposal.id}"))
    assert "Vous signalez la proposition" in page
    assert_page(client.get("/signalements?type=proposal&id=999999"), 404)
    assert_page(client.get(f"/signalements?type=user&id={proposal.id}"), 404)
