"""The residents' evaluation on the action page (/actions/{id}) and in the API
(/api/v1/actions/{id}/evaluation): the summary, the rating form (without JavaScript and with htmx),
why there is no form, comments hidden for moderators only, and the API's problems."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.accounts.models import User
from app.actions import evaluations
from app.actions.models import ActionEvaluation, PublicAction
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from tests.actions.helpers import principal, staff
from tests.factories import NOW, bearer, make_consultation, make_user
from tests.participation import post, sign_in


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def _action(session: Session, consultation: Consultation, title: str = "Rénover la salle des fêtes") -> PublicAction:
    action = PublicAction(consultation_id=consultation.id or 0, title=title, owner="Mairie de Liévin",
                          created_at=NOW, updated_at=NOW)
    session.add(action)
    session.flush()
    return action


@pytest.fixture
def follow_up(session: Session) -> Consultation:
    return make_consultation(session, phase="follow_up")


@pytest.fixture
def action(session: Session, follow_up: Consultation) -> PublicAction:
    return _action(session, follow_up)


def _rate(session: Session, action: PublicAction, rating: int, comment: str | None = None,
          user: User | None = None) -> ActionEvaluation:
    resident = principal(session, user or make_user(session))
    return evaluations.evaluate(session, resident, action, rating=rating, comment=comment, now=NOW)


def _section(html: str) -> str:
    found = re.search(r'<section[^>]*id="evaluation".*?</section>', html, re.S)
    assert found, "no evaluation section"
    return found.group(0)


# --- the summary


def test_the_page_shows_the_average_the_count_and_the_distribution(client: TestClient, session: Session,
                                                                     action: PublicAction) -> None:
    for rating in (5, 4, 4, 2, 4):
        _rate(session, action, rating)
    html = _section(client.get(f"/actions/{action.id}").text)
    assert "3,8 sur 5" in html
    assert "moyenne de 5 évaluations" in html
    # one bar per rating, each with its figures in words
    assert html.count('class="cr-rating-bars__item"') == 5
    assert re.search(r"4 – satisfait</span>.*?3 évaluations \(60 %\)", html, re.S)
    assert re.search(r"3 – moyennement satisfait</span>.*?0 évaluation \(0 %\)", html, re.S)
    assert 'aria-hidden="true"' in html  # the drawn bars are decoration; the words carry the figures


def test_an_action_nobody_rated_says_so(client: TestClient, action: PublicAction) -> None:
    html = _section(client.get(f"/actions/{action.id}").text)
    assert "Personne n’a encore évalué cette action." in html
    assert "Pas encore de commentaire." in html


# --- who gets a form, and why the others do not


def test_a_visitor_is_invited_to_sign_in(client: TestClient, action: PublicAction) -> None:
    html = _section(client.get(f"/actions/{action.id}").text)
    assert '<form class="cr-evaluation-form"' not in html
    assert "Connectez-vous pour évaluer cette action" in html
    assert "/connexion?next=" in html


def test_outside_follow_up_the_page_says_why(client: TestClient, app: FastAPI, session: Session) -> None:
    item = _action(session, make_consultation(session, phase="results"))
    sign_in(client, app, make_user(session))
    html = _section(client.get(f"/actions/{item.id}").text)
    assert '<form class="cr-evaluation-form"' not in html
    assert "Les actions s’évaluent pendant la phase de suivi de leur consultation." in html


def test_a_resident_out_of_the_scope_is_told_why(client: TestClient, app: FastAPI, session: Session) -> None:
    item = _action(session, make_consultation(session, phase="follow_up", scope_kind="commune", scope_code="62510"))
    sign_in(client, app, make_user(session, commune="62498"))
    html = _section(client.get(f"/actions/{item.id}").text)
    assert '<form class="cr-evaluation-form"' not in html
    reason = evaluations.can_evaluate(session, principal(session, make_user(session, commune="62498")), item, now=NOW)
    assert reason is not None
    assert reason.split(" ")[0] in html


def test_an_eligible_resident_gets_the_form(client: TestClient, app: FastAPI, session: Session,
                                             action: PublicAction) -> None:
    sign_in(client, app, make_user(session))
    html = _section(client.get(f"/actions/{action.id}").text)
    assert '<form class="cr-evaluation-form"' in html
    assert "<fieldset" in html
    assert "<legend>" in html
    for label in ("1 – très insatisfait", "2 – insatisfait", "3 – moyennement satisfait", "4 – satisfait",
                  "5 – très satisfait"):
        assert label in html
    assert html.count('type="radio"') == 5
    assert 'name="csrf_token"' in html
    assert 'hx-post="/actions/' in html


# --- rating through the form


def test_rating_without_javascript_redirects_and_prefills(client: TestClient, app: FastAPI, session: Session,
                                                          action: PublicAction) -> None:
    sign_in(client, app, make_user(session))
    response = post(client, f"/actions/{action.id}/evaluation", {"rating": "4", "comment": "Bien **mené**"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/actions/{action.id}#evaluation"
    session.refresh(action)
    assert (action.ratings_count, action.ratings_sum) == (1, 4)
    html = _section(client.get(f"/actions/{action.id}").text)
    assert re.search(r'id="rating-4" name="rating" value="4" checked', html)
    assert "Bien **mené**</textarea>" in html
    assert "<strong>mené</strong>" in html  # the comment, published
    assert "Modifier mon évaluation" in html
    # rating again replaces the rating
    post(client, f"/actions/{action.id}/evaluation", {"rating": "2", "comment": ""})
    session.refresh(action)
    assert (action.ratings_count, action.ratings_sum) == (1, 2)


def test_rating_with_htmx_swaps_the_section(client: TestClient, app: FastAPI, session: Session,
                                            action: PublicAction) -> None:
    sign_in(client, app, make_user(session))
    response = post(client, f"/actions/{action.id}/evaluation", {"rating": "5", "comment": "Parfait"}, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith("{#") is False
    assert '<section aria-labelledby="evaluation-title" id="evaluation"' in response.text
    assert "<html" not in response.text
    assert "votre évaluation est enregistrée" in response.text
    assert "5,0 sur 5" in response.text
    assert re.search(r'id="rating-5" name="rating" value="5" checked', response.text)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_form_keeps_what_was_typed(client: TestClient, app: FastAPI, session: Session,
                                             action: PublicAction, htmx: bool) -> None:
    sign_in(client, app, make_user(session))
    response = post(client, f"/actions/{action.id}/evaluation", {"rating": "", "comment": "Mon avis détaillé"},
                    htmx=htmx)
    assert response.status_code == 422
    assert "Choisissez une note de 1 à 5." in response.text
    assert "Mon avis détaillé</textarea>" in response.text
    assert 'aria-invalid="true"' in response.text
    assert ("<html" in response.text) is not htmx
    too_long = "x" * (evaluations.MAX_COMMENT + 1)
    response = post(client, f"/actions/{action.id}/evaluation", {"rating": "3", "comment": too_long}, htmx=htmx)
    assert response.status_code == 422
    assert "Le commentaire compte au plus 2 000 caractères." in response.text
    assert re.search(r'id="rating-3" name="rating" value="3" checked', response.text)
    session.refresh(action)
    assert action.ratings_count == 0


def test_the_form_is_refused_outside_follow_up_and_keeps_the_text(client: TestClient, app: FastAPI,
                                                                    session: Session) -> None:
    item = _action(session, make_consultation(session, phase="results"))
    sign_in(client, app, make_user(session))
    response = post(client, f"/actions/{item.id}/evaluation", {"rating": "4", "comment": "Trop tôt"})
    assert response.status_code == 409
    assert "phase de suivi" in response.text


def test_the_form_needs_the_csrf_token(client: TestClient, app: FastAPI, session: Session,
                                       action: PublicAction) -> None:
    sign_in(client, app, make_user(session))
    response = client.post(f"/actions/{action.id}/evaluation", data={"rating": "4"}, follow_redirects=False)
    assert response.status_code == 403
    session.refresh(action)
    assert action.ratings_count == 0


def test_ratings_are_rate_limited(client: TestClient, app: FastAPI, session: Session, action: PublicAction) -> None:
    from app.accounts.deps import WRITE_RATES

    assert "evaluation" in WRITE_RATES
    sign_in(client, app, make_user(session))
    limit = int(WRITE_RATES["evaluation"].split("/")[0])
    for _n in range(limit):
        assert post(client, f"/actions/{action.id}/evaluation", {"rating": "3"}).status_code == 303
    response = post(client, f"/actions/{action.id}/evaluation", {"rating": "5", "comment": "Encore"})
    assert response.status_code == 429
    assert "Encore</textarea>" in response.text


# --- comments: newest first, paginated, hidden ones for moderators only


def test_comments_are_shown_newest_first_without_names(client: TestClient, session: Session,
                                                       action: PublicAction) -> None:
    from datetime import timedelta

    first = _rate(session, action, 4, "Premier avis", user=make_user(session, name="Paulette Secret"))
    second = _rate(session, action, 2, "Second avis")
    first.updated_at = NOW - timedelta(days=2)
    session.add(first)
    session.flush()
    html = _section(client.get(f"/actions/{action.id}").text)
    assert html.index("Second avis") < html.index("Premier avis")
    assert "Paulette Secret" not in html
    assert f'id="avis-{second.id}"' in html


def test_many_comments_are_paginated(client: TestClient, session: Session, action: PublicAction) -> None:
    from app.actions.routes import COMMENTS_PER_PAGE

    for n in range(COMMENTS_PER_PAGE + 3):
        _rate(session, action, 3, f"Avis numéro {n:02d}")
    first = _section(client.get(f"/actions/{action.id}").text)
    assert first.count('class="cr-comment cr-evaluation-comment') == COMMENTS_PER_PAGE
    assert f'href="/actions/{action.id}?avis=2#evaluation-comments-title"' in first
    second = _section(client.get(f"/actions/{action.id}?avis=2").text)
    assert second.count('class="cr-comment cr-evaluation-comment') == 3
    assert "Commentaires plus récents" in second


def test_moderators_hide_and_restore_a_comment(client: TestClient, app: FastAPI, session: Session,
                                               action: PublicAction) -> None:
    evaluation = _rate(session, action, 1, "Propos déplacés")
    resident = make_user(session)
    sign_in(client, app, resident)
    assert "Masquer le commentaire" not in client.get(f"/actions/{action.id}").text
    assert post(client, f"/gestion/avis/{evaluation.id}/masquer", {}).status_code == 403

    moderator = staff(session, axis=1)
    sign_in(client, app, moderator.user)
    html = _section(client.get(f"/actions/{action.id}").text)
    assert "Masquer le commentaire" in html
    response = post(client, f"/gestion/avis/{evaluation.id}/masquer", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"/actions/{action.id}#avis-{evaluation.id}"
    session.refresh(evaluation)
    assert evaluation.state == "hidden"
    audited = session.exec(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evaluation.hidden", AuditEntry.target_id == evaluation.id)).one()
    assert audited == 1
    # moderators still see it, marked, with the button to restore it; others no longer see it
    html = _section(client.get(f"/actions/{action.id}").text)
    assert "Masqué par la modération" in html
    assert "Rétablir le commentaire" in html
    sign_in(client, app, resident)
    assert "Propos déplacés" not in client.get(f"/actions/{action.id}").text
    client.cookies.clear()
    assert "Propos déplacés" not in client.get(f"/actions/{action.id}").text
    # the rating still counts
    session.refresh(action)
    assert action.ratings_count == 1
    # restoring with htmx sends the comment back
    sign_in(client, app, moderator.user)
    response = post(client, f"/gestion/avis/{evaluation.id}/retablir", {}, htmx=True)
    assert response.status_code == 200
    assert f'id="avis-{evaluation.id}"' in response.text
    assert "Masquer le commentaire" in response.text
    session.refresh(evaluation)
    assert evaluation.state == "published"


def test_a_moderator_of_another_axis_cannot_hide(client: TestClient, app: FastAPI, session: Session,
                                                 action: PublicAction) -> None:
    evaluation = _rate(session, action, 1, "Avis")
    sign_in(client, app, staff(session, axis=2).user)
    assert post(client, f"/gestion/avis/{evaluation.id}/masquer", {}).status_code == 403
    session.refresh(evaluation)
    assert evaluation.state == "published"


# --- the API


def test_api_rates_then_replaces_and_never_says_who(client: TestClient, session: Session,
                                                    action: PublicAction) -> None:
    user = make_user(session, name="Gaston Discret")
    headers = bearer(session, user)
    response = client.post(f"/api/v1/actions/{action.id}/evaluation", json={"rating": 4, "comment": "Bien"},
                           headers=headers)
    assert response.status_code == 201
    assert response.json() == {"action_id": action.id, "count": 1, "average": 4.0,
                               "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}
    response = client.post(f"/api/v1/actions/{action.id}/evaluation", json={"rating": 2}, headers=headers)
    assert response.status_code == 200
    assert response.json()["average"] == 2.0
    summary = client.get(f"/api/v1/actions/{action.id}/evaluation")
    assert summary.status_code == 200
    assert summary.json()["count"] == 1
    assert set(summary.json()) == {"action_id", "count", "average", "distribution"}  # nobody's id nor name
    assert "Gaston" not in summary.text


def test_api_summary_suppresses_nothing(client: TestClient, session: Session, action: PublicAction) -> None:
    _rate(session, action, 5)
    body = client.get(f"/api/v1/actions/{action.id}/evaluation").json()
    assert body["count"] == 1
    assert body["distribution"]["5"] == 1


def test_api_problems(client: TestClient, session: Session, action: PublicAction) -> None:
    headers = bearer(session, make_user(session))
    for payload in ({"rating": 0}, {"rating": 6}, {"rating": "4"}, {"rating": True}, {},
                    {"rating": 3, "comment": "x" * 2001}, {"rating": 3, "who": 1}):
        response = client.post(f"/api/v1/actions/{action.id}/evaluation", json=payload, headers=headers)
        assert response.status_code == 422, payload
        assert response.headers["content-type"].startswith("application/problem+json")
    closed = _action(session, make_consultation(session, phase="results"))
    response = client.post(f"/api/v1/actions/{closed.id}/evaluation", json={"rating": 3}, headers=headers)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/evaluation-closed"
    local = _action(session, make_consultation(session, phase="follow_up", scope_kind="commune", scope_code="62510"))
    stranger = bearer(session, make_user(session, commune="62498"))
    response = client.post(f"/api/v1/actions/{local.id}/evaluation", json={"rating": 3}, headers=stranger)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"/api/v1/actions/{action.id}/evaluation", json={"rating": 3}).status_code == 401
    assert client.get("/api/v1/actions/999999/evaluation").status_code == 404
