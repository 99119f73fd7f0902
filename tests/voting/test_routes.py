"""The proposal page and its support button: a plain POST without JavaScript, a fragment swapped
in place with htmx; refusals say why, with the right status, in place or on the page."""

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.consultations.models import Consultation
from app.core.db import session_factory
from app.proposals.models import Proposal
from app.voting.models import SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import HTMX, csrf, post, sign_in
from tests.support import assert_fragment, assert_page

LENS_LIEVIN = "246200364"
DOUAI = "59178"


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def voting(session: Session) -> Consultation:
    consultation = make_consultation(session, phase="voting", max_supports=2, scope_kind="epci",
                                     scope_code=LENS_LIEVIN)
    session.commit()
    return consultation


@pytest.fixture
def proposals(session: Session, voting: Consultation) -> list[Proposal]:
    author = make_user(session, name="Sabrina Lefebvre")
    made = [make_proposal(session, voting, author, commune_insee="62510", estimated_cost=4500) for _ in range(3)]
    session.commit()
    return made


@pytest.fixture
def voter(client: TestClient, app: FastAPI, session: Session) -> User:
    user = make_user(session)
    session.commit()
    sign_in(client, app, user)
    return user


def supports_of(session: Session, user: User) -> set[int]:
    return set(session.exec(select(SupportVote.proposal_id).where(SupportVote.voter_id == user.id)))


def test_proposal_page(client: TestClient, proposals: list[Proposal]) -> None:
    proposal = proposals[0]
    text = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert proposal.title in text
    assert "Une proposition détaillée pour le quartier." in text
    assert "Sabrina Lefebvre" in text
    assert "Liévin" in text
    assert "4\u202f500 €" in text
    assert f'id="proposal-{proposal.id}-support"' in text
    assert "0</strong> soutien<" in text  # French counts 0 in the singular
    assert "Connectez-vous pour soutenir cette proposition" in text  # a visitor
    assert 'name="action"' not in text


def test_an_erased_author_shows_as_anonymous(client: TestClient, app: FastAPI, session: Session,
                                             proposals: list[Proposal]) -> None:
    author = session.get(User, proposals[0].author_id)
    assert author is not None
    accounts.erase_account(session, app.state.session_store, author, now=NOW)
    session.commit()
    text = assert_page(client.get(f"/propositions/{proposals[0].id}"))
    assert "Habitant·e anonyme" in text
    assert "Sabrina Lefebvre" not in text


def test_support_and_remove_without_javascript(client: TestClient, session: Session, voter: User,
                                               proposals: list[Proposal]) -> None:
    proposal = proposals[0]
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert 'aria-pressed="false"' in page
    assert "Il vous reste 2 soutiens." in page
    response = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/propositions/{proposal.id}#proposal-{proposal.id}-support"
    page = assert_page(client.get(response.headers["location"]))
    assert "Votre soutien est enregistré. Il vous reste 1 soutien." in page
    assert 'aria-pressed="true"' in page
    assert "1</strong> soutien" in page
    assert supports_of(session, voter) == {proposal.id}
    again = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"})  # a double click
    assert again.status_code == 303
    assert supports_of(session, voter) == {proposal.id}
    removed = post(client, f"/propositions/{proposal.id}/soutien", {"action": "remove"})
    assert removed.status_code == 303
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert "Votre soutien est retiré. Il vous reste 2 soutiens." in page
    assert supports_of(session, voter) == set()


def test_support_with_htmx_swaps_the_button(client: TestClient, session: Session, voter: User,
                                            proposals: list[Proposal]) -> None:
    proposal = proposals[0]
    response = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"}, htmx=True)
    text = assert_fragment(response)
    assert text.lstrip().startswith(f'<div id="proposal-{proposal.id}-support"')
    assert 'aria-pressed="true"' in text
    assert "<strong>1</strong> soutien" in text
    assert 'name="action" value="remove"' in text
    assert "Il vous reste 1 soutien." in text
    assert "Vous soutenez cette proposition." in text
    removed = assert_fragment(post(client, f"/propositions/{proposal.id}/soutien", {"action": "remove"}, htmx=True))
    assert 'aria-pressed="false"' in removed
    assert "Il vous reste 2 soutiens." in removed


def test_the_limit_is_said_in_place_and_on_the_page(client: TestClient, session: Session, voter: User,
                                                    proposals: list[Proposal]) -> None:
    first, second, third = proposals
    for proposal in (first, second):
        assert post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"}).status_code == 303
    limit = "Vous avez utilisé tous vos soutiens pour cette consultation."
    fragment = assert_fragment(post(client, f"/propositions/{third.id}/soutien", {"action": "add"}, htmx=True), 409)
    assert limit in fragment
    assert 'role="alert"' in fragment
    assert 'aria-pressed="false"' in fragment
    page = assert_page(post(client, f"/propositions/{third.id}/soutien", {"action": "add"}), 409)
    assert limit in page
    assert "<title>Erreur" in page
    assert supports_of(session, voter) == {first.id, second.id}


def test_an_ineligible_resident_is_told_why(client: TestClient, app: FastAPI, session: Session,
                                            proposals: list[Proposal]) -> None:
    outsider = make_user(session, commune=DOUAI)
    session.commit()
    sign_in(client, app, outsider)
    reason = "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."
    page = assert_page(client.get(f"/propositions/{proposals[0].id}"))
    assert reason in page
    assert 'name="action"' not in page
    fragment = assert_fragment(post(client, f"/propositions/{proposals[0].id}/soutien", {"action": "add"},
                                    htmx=True), 403)
    assert reason in fragment
    assert reason in assert_page(post(client, f"/propositions/{proposals[0].id}/soutien", {"action": "add"}), 403)
    assert supports_of(session, outsider) == set()


def test_no_vote_outside_the_voting_phase(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    proposal = make_proposal(session, consultation, make_user(session))
    resident = make_user(session)
    session.commit()
    sign_in(client, app, resident)
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert 'name="action"' not in page
    refused = assert_page(post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"}), 409)
    assert "Le vote n’est pas ouvert en ce moment" in refused


def test_supporting_needs_a_signed_in_person(client: TestClient, proposals: list[Proposal]) -> None:
    proposal = proposals[0]
    response = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=")
    htmx = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"}, htmx=True)
    assert htmx.status_code == 204
    assert htmx.headers["HX-Redirect"].startswith("/connexion?next=")
    # After signing in, back to the page the button was on (the form's action has no page).
    page = f"http://testserver/propositions/{proposal.id}"
    response = client.post(f"/propositions/{proposal.id}/soutien", headers={"Referer": page},
                           data={"action": "add", "csrf_token": csrf(client)}, follow_redirects=False)
    assert parse_qs(urlsplit(response.headers["location"]).query)["next"] == [f"/propositions/{proposal.id}"]
    response = client.post(f"/propositions/{proposal.id}/soutien", data={"action": "add"}, follow_redirects=False,
                           headers={**HTMX, "HX-Current-URL": page, "X-CSRF-Token": csrf(client)})
    assert parse_qs(urlsplit(response.headers["HX-Redirect"]).query)["next"] == [f"/propositions/{proposal.id}"]
    elsewhere = client.post(f"/propositions/{proposal.id}/soutien", headers={"Referer": "https://ailleurs.example/x"},
                            data={"action": "add", "csrf_token": csrf(client)}, follow_redirects=False)
    assert parse_qs(urlsplit(elsewhere.headers["location"]).query)["next"] == [f"/propositions/{proposal.id}/soutien"]


def test_hidden_results_hide_the_count(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", results_hidden_until_end=True)
    proposal = make_proposal(session, consultation, make_user(session), supports_count=7)
    session.commit()
    text = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert "Le nombre de soutiens sera publié à la fin du vote." in text
    assert "7</strong>" not in text


def test_a_withdrawn_proposal_cannot_be_supported(client: TestClient, session: Session, voter: User,
                                                  proposals: list[Proposal]) -> None:
    proposal = proposals[0]
    proposal.state = "withdrawn"
    proposal.withdrawn_at = NOW
    session.add(proposal)
    session.commit()
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert "Proposition retirée" in page
    assert 'name="action"' not in page
    refused = assert_page(post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"}), 409)
    assert "Cette proposition ne peut pas recevoir de soutien." in refused


def test_a_writing_request_reads_its_own_writes_after_a_savepoint(engine: Engine) -> None:
    """The support button shows the count the vote just made: the service's SAVEPOINT must not
    move the rest of the request's transaction to a second connection (the app's own sessions,
    not the test's: it used to switch connections at the first savepoint released)."""
    with session_factory(engine)(write=True) as db:
        user = make_user(db)
        with db.begin_nested():
            db.execute(update(User).where(col(User.id) == user.id).values(display_name="Après le vote"))
        assert db.scalar(select(User.display_name).where(col(User.id) == user.id)) == "Après le vote"
        db.rollback()
