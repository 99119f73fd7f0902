"""/gestion: the back office's home, for moderators, mediators, evaluators and admins, with a card
for each tool the person may use; and the header's "Gestion" link, shown to them only."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import Role
from app.moderation.models import Report
from tests.backoffice.people import staff
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import sign_in
from tests.support import assert_page, page_text

CARD = re.compile(r'<h3 class="cr-card__title"><a href="([^"]+)">')


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def cards(client: TestClient) -> list[str]:
    response = client.get("/gestion")
    assert_page(response)
    return CARD.findall(response.text)


@pytest.mark.parametrize(("role", "scope", "expected"), [
    (Role.admin, {}, ["/gestion/consultations", "/gestion/moderation", "/actions", "/guichet", "/evaluation",
                      "/gestion/exports", "/gestion/journal"]),
    (Role.moderator, {"axis": 1}, ["/gestion/consultations", "/gestion/moderation", "/actions", "/evaluation",
                                   "/gestion/exports", "/gestion/journal"]),
    (Role.mediator, {"commune": "62510"}, ["/guichet"]),
    (Role.evaluator, {}, ["/evaluation", "/gestion/exports"]),
])
def test_each_role_sees_its_tools(client: TestClient, app: FastAPI, session: Session, role: Role,
                                  scope: dict[str, object], expected: list[str]) -> None:
    sign_in(client, app, staff(session, role, **scope))  # type: ignore[arg-type]
    assert cards(client) == expected


def test_a_consultation_moderator_sees_their_role_in_words(client: TestClient, app: FastAPI,
                                                          session: Session) -> None:
    consultation = make_consultation(session)
    sign_in(client, app, staff(session, Role.moderator, consultation=consultation))
    text = page_text(client.get("/gestion"))
    assert f"Modération : consultation « {consultation.title} »" in text
    assert 'href="/gestion/journal"' in text


def test_the_moderation_card_counts_what_awaits_within_the_scope(client: TestClient, app: FastAPI,
                                                                session: Session) -> None:
    author = make_user(session)
    pending = make_consultation(session, axis_number=1, phase="proposals", is_premoderated=True)
    for _n in range(2):
        make_proposal(session, pending, author, state="pending")
    elsewhere = make_consultation(session, axis_number=2, phase="proposals", is_premoderated=True)
    make_proposal(session, elsewhere, author, state="pending")
    reported = make_proposal(session, make_consultation(session, axis_number=1), author)
    session.add(Report(target_type="proposal", target_key=f"proposal:{reported.id}", proposal_id=reported.id,
                       reporter_id=make_user(session).id or 0, reason="spam", created_at=NOW))
    session.flush()
    sign_in(client, app, staff(session, Role.moderator, axis=1))
    assert "À traiter : 1 contenu signalé, 2 propositions en attente" in page_text(client.get("/gestion"))
    sign_in(client, app, staff(session, Role.admin))
    assert "À traiter : 1 contenu signalé, 3 propositions en attente" in page_text(client.get("/gestion"))


def test_roles_in_words(client: TestClient, app: FastAPI, session: Session) -> None:
    sign_in(client, app, staff(session, Role.moderator, axis=1))
    assert re.search(r"Modération : axe 1, \w", page_text(client.get("/gestion")))
    sign_in(client, app, staff(session, Role.mediator, commune="62510"))
    assert "Médiation : commune de Liévin" in page_text(client.get("/gestion"))
    sign_in(client, app, staff(session, Role.admin))
    assert "Administration : toute la plateforme" in page_text(client.get("/gestion"))


def test_residents_are_refused_and_visitors_sent_to_sign_in(client: TestClient, app: FastAPI,
                                                            session: Session) -> None:
    response = client.get("/gestion", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?next=%2Fgestion"
    sign_in(client, app, staff(session, None))
    response = client.get("/gestion")
    assert response.status_code == 403
    assert "Le back-office est réservé aux modérateurs, médiateurs, évaluateurs et administrateurs." in page_text(
        response)


@pytest.mark.parametrize("page", ["/", "/territoire", "/compte"])
def test_the_header_links_to_the_back_office_for_staff_only(client: TestClient, app: FastAPI, session: Session,
                                                           page: str) -> None:
    sign_in(client, app, staff(session, None))
    assert 'href="/gestion"' not in client.get(page).text
    sign_in(client, app, staff(session, Role.evaluator))
    text = client.get(page).text
    assert '<li class="cr-nav__end"><a href="/gestion">Gestion</a></li>' in text
    client.cookies.clear()
    assert 'href="/gestion"' not in client.get("/").text
