"""Notification pages as a resident uses them, without JavaScript and with htmx: follow buttons on
the consultation and proposal pages, the list (own notifications only, unread marked, mark read,
pages), the count in the header, the email preference, and the one-click unsubscribe link."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.db import get_session
from app.notifications import service
from app.notifications.models import EmailFrequency, FollowTarget, Notification, NotificationKind
from app.notifications.policy import unsubscribe_token
from tests.conftest import SECRET
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import post, sign_in
from tests.support import assert_fragment, assert_page, page_text, statements

HOUR = timedelta(hours=1)
COUNT = re.compile(r'href="/notifications"[^>]*>Notifications(?: <span class="cr-count">(\d+)</span>)?')


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def alice(session: Session) -> User:
    user = make_user(session, name="Alice Martin", email="alice@example.fr")
    session.commit()
    return user


def tell(session: Session, user: User, title: str, *, at=NOW) -> None:
    service.notify(session, [user.id], kind=NotificationKind.official_answer, target_type="proposal", target_id=1,
                   title=title, url="/propositions/1", now=at)
    session.commit()


def header_count(text: str) -> int:
    found = COUNT.search(text)
    assert found, "no notifications link in the header"
    return int(found.group(1) or 0)


# --- following


def test_follow_and_unfollow_a_consultation_without_javascript(client: TestClient, app: FastAPI, session: Session,
                                                               alice: User) -> None:
    consultation = make_consultation(session, phase="voting")
    session.commit()
    page = f"/consultations/{consultation.slug}"
    assert "Suivre cette consultation" not in page_text(client.get(page))  # visitors have no button
    sign_in(client, app, alice)
    text = assert_page(client.get(page))
    assert 'action="' + page + '/suivre"' in text
    assert 'aria-pressed="false"' in text

    response = post(client, f"{page}/suivre", {"follow": "on"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}#follow-consultation-{consultation.id}"
    assert service.is_following(session, alice.id, FollowTarget.consultation, consultation.id)
    text = assert_page(client.get(page))
    assert "Vous suivez cette consultation." in text  # the flash
    assert 'aria-pressed="true"' in text
    post(client, f"{page}/suivre", {"follow": "on"})  # twice changes nothing
    assert service.followers(session, FollowTarget.consultation, [consultation.id]) == {alice.id}

    assert post(client, f"{page}/suivre", {"follow": "off"}).status_code == 303
    assert not service.is_following(session, alice.id, FollowTarget.consultation, consultation.id)


def test_follow_a_proposal_with_htmx(client: TestClient, app: FastAPI, session: Session, alice: User) -> None:
    consultation = make_consultation(session, phase="voting")
    proposal = make_proposal(session, consultation, make_user(session))
    session.commit()
    sign_in(client, app, alice)
    assert "Suivre cette proposition" in assert_page(client.get(f"/propositions/{proposal.id}"))
    fragment = assert_fragment(post(client, f"/propositions/{proposal.id}/suivre", {"follow": "on"}, htmx=True))
    assert f'id="follow-proposal-{proposal.id}"' in fragment
    assert 'aria-pressed="true"' in fragment
    assert 'value="off"' in fragment
    assert service.is_following(session, alice.id, FollowTarget.proposal, proposal.id)
    fragment = assert_fragment(post(client, f"/propositions/{proposal.id}/suivre", {"follow": "off"},
                                    htmx=True))
    assert 'aria-pressed="false"' in fragment
    assert not service.is_following(session, alice.id, FollowTarget.proposal, proposal.id)


def test_following_needs_a_sign_in_and_a_visible_target(client: TestClient, app: FastAPI, session: Session,
                                                        alice: User) -> None:
    draft = make_consultation(session, status="draft")
    hidden = make_proposal(session, make_consultation(session), make_user(session), state="hidden")
    session.commit()
    response = post(client, f"/consultations/{draft.slug}/suivre", {"follow": "on"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion")
    sign_in(client, app, alice)
    assert post(client, f"/consultations/{draft.slug}/suivre", {"follow": "on"}).status_code == 404
    assert post(client, f"/propositions/{hidden.id}/suivre", {"follow": "on"}).status_code == 404
    assert post(client, "/propositions/999999/suivre", {"follow": "on"}).status_code == 404
    assert session.exec(select(Notification)).all() == []
    assert not service.is_following(session, alice.id, FollowTarget.proposal, hidden.id)


# --- the list


def test_the_list_shows_ones_own_notifications_newest_first_and_marks_them_read(
        client: TestClient, app: FastAPI, session: Session, alice: User) -> None:
    bob = make_user(session, name="Bob")
    tell(session, alice, "Plus ancienne", at=NOW - 2 * HOUR)
    tell(session, alice, "Plus récente", at=NOW - HOUR)
    tell(session, bob, "Celle de Bob")
    bobs = session.exec(select(Notification).where(Notification.user_id == bob.id)).one()

    assert client.get("/notifications", follow_redirects=False).status_code == 303  # sign in first
    sign_in(client, app, alice)
    text = assert_page(client.get("/notifications"))
    assert text.index("Plus récente") < text.index("Plus ancienne")
    assert "Celle de Bob" not in text
    assert "2 notifications non lues." in text
    assert header_count(text) == 2

    mine = session.exec(select(Notification).where(Notification.user_id == alice.id)
                        .order_by(col(Notification.created_at))).all()
    response = post(client, f"/notifications/{mine[0].id}/lue", {"page": "1"})
    assert (response.status_code, response.headers["location"]) == (303, "/notifications")
    session.expire_all()
    assert session.get(Notification, mine[0].id).read_at == NOW
    assert header_count(assert_page(client.get("/"))) == 1

    # Someone else's notification: as if it did not exist.
    assert post(client, f"/notifications/{bobs.id}/lue", {}).status_code == 404
    session.expire_all()
    assert session.get(Notification, bobs.id).read_at is None

    assert post(client, "/notifications/tout-lire", {}).status_code == 303
    text = assert_page(client.get("/notifications"))
    assert "Vous avez tout lu." in text
    assert "Toutes vos notifications sont marquées comme lues." in text
    assert header_count(text) == 0
    session.expire_all()
    assert session.get(Notification, bobs.id).read_at is None


def test_the_list_is_paged_and_costs_the_same_queries_whatever_its_length(
        client: TestClient, app: FastAPI, session: Session, alice: User) -> None:
    for n in range(25):
        tell(session, alice, f"Notification numéro {n:02d}", at=NOW - n * HOUR)
    sign_in(client, app, alice)
    first = assert_page(client.get("/notifications"))
    assert "Notification numéro 00" in first
    assert "Notification numéro 19" in first
    assert "Notification numéro 20" not in first
    assert 'href="/notifications?page=2"' in first
    second = assert_page(client.get("/notifications?page=2"))
    assert "Notification numéro 24" in second
    assert "Notification numéro 19" not in second

    engine = session.get_bind().engine
    with statements(engine) as long_page:
        client.get("/notifications")
    with statements(engine) as short_page:
        client.get("/notifications?page=2")
    assert len(long_page) == len(short_page)  # no query per notification


def test_the_header_count_is_one_query(client: TestClient, app: FastAPI, session: Session, alice: User) -> None:
    from app.notifications.routes import unread_count

    tell(session, alice, "Une nouvelle")
    sign_in(client, app, alice)
    assert header_count(assert_page(client.get("/territoire"))) == 1
    assert get_session in app.dependency_overrides  # the app runs on the test's session

    connection = SimpleNamespace(scope={"carreau.session": SimpleNamespace(user_id=alice.id)}, app=app)
    with statements(session.get_bind().engine) as seen:
        assert unread_count(connection) == 1
    assert len(seen) == 1


# --- the email preference


def test_choose_the_email_frequency(client: TestClient, app: FastAPI, session: Session, alice: User) -> None:
    sign_in(client, app, alice)
    text = assert_page(client.get("/notifications/preferences"))
    assert 'value="immediate" checked' in text
    response = post(client, "/notifications/preferences", {"frequency": "daily"})
    assert (response.status_code, response.headers["location"]) == (303, "/notifications/preferences")
    assert service.email_frequency(session, alice.id) == EmailFrequency.daily
    text = assert_page(client.get("/notifications/preferences"))
    assert 'value="daily" checked' in text
    assert "Votre choix est enregistré." in text

    text = assert_page(post(client, "/notifications/preferences", {"frequency": "hourly"}), 422)
    assert "Choisissez quand recevoir les courriels." in text
    assert service.email_frequency(session, alice.id) == EmailFrequency.daily


# --- unsubscribe in one click


def test_the_unsubscribe_link_shows_a_button_then_unsubscribes(client: TestClient, session: Session,
                                                               alice: User) -> None:
    link = f"/notifications/desabonnement/{unsubscribe_token(SECRET, alice.id)}"
    text = assert_page(client.get(link))  # no sign-in needed
    assert f'action="{link}"' in text
    assert service.email_frequency(session, alice.id) == EmailFrequency.immediate  # a GET changes nothing

    # The page's button: a plain form, no CSRF token needed (the link's token is the proof).
    text = assert_page(client.post(link))
    assert "Vous ne recevrez plus de courriel de notification." in text
    assert service.email_frequency(session, alice.id) == EmailFrequency.never


def test_one_click_unsubscribe_as_a_mail_client_sends_it(app: FastAPI, session: Session, alice: User) -> None:
    link = f"/notifications/desabonnement/{unsubscribe_token(SECRET, alice.id)}"
    with TestClient(app) as mail_client:  # RFC 8058: a POST with no cookie, no CSRF token
        response = mail_client.post(link, content=b"List-Unsubscribe=One-Click",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert service.email_frequency(session, alice.id) == EmailFrequency.never


def test_a_forged_or_foreign_token_is_refused(client: TestClient, session: Session, alice: User) -> None:
    bob = make_user(session, name="Bob")
    session.commit()
    signature = unsubscribe_token(SECRET, alice.id).partition(".")[2]
    for token in (f"{bob.id}.{signature}", unsubscribe_token("z" * 40, bob.id), "nimportequoi", f"{bob.id}."):
        assert client.get(f"/notifications/desabonnement/{token}").status_code == 404
        response = client.post(f"/notifications/desabonnement/{token}", content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 404
        assert "lien de désabonnement n’est pas valable" in page_text(response)
    assert service.email_frequency(session, bob.id) == EmailFrequency.immediate
    assert service.email_frequency(session, alice.id) == EmailFrequency.immediate


def test_other_posts_still_need_the_csrf_token(client: TestClient, app: FastAPI, session: Session,
                                               alice: User) -> None:
    sign_in(client, app, alice)
    client.get("/")
    assert client.post("/notifications/tout-lire", follow_redirects=False).status_code == 403
    assert client.post("/notifications/preferences", data={"frequency": "never"}).status_code == 403
    assert service.email_frequency(session, alice.id) == EmailFrequency.immediate
