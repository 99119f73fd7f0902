"""CSRF: every unsafe request that rides on cookies carries the token of its own browser."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import routes as pages
from app.accounts import service
from app.accounts.api import erase_me, verify_residence
from app.accounts.models import AccessToken, AccountTokenKind, User
from app.core.csrf import CSRF_COOKIE, SAFE_METHODS, verify_csrf
from app.core.errors import PROBLEM_JSON
from tests.participation import csrf
from tests.support import PASSWORD, T0, assert_page, cheap_password_hashing, make_resident, sign_in_with_password

REFUSED = "La vérification de sécurité du formulaire a échoué. Rechargez la page, puis réessayez."


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~85 ms a hash; these tests are about CSRF, not hashing."""
    cheap_password_hashing(monkeypatch)


def signed_in_as(client: TestClient) -> int | None:
    response = client.get("/api/v1/me")
    return response.json()["id"] if response.status_code == 200 else None


def assert_refused_page(response) -> None:  # type: ignore[no-untyped-def]
    text = assert_page(response, 403)
    assert REFUSED in text


def assert_refused_problem(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == REFUSED


@pytest.fixture
def alice(session: Session) -> User:
    return make_resident(session, "alice@example.fr")


@pytest.fixture
def browser(app: FastAPI, alice: User) -> Iterator[TestClient]:
    """Alice's browser, signed in."""
    with TestClient(app) as client:
        sign_in_with_password(client, "alice@example.fr")
        yield client


def _name(session: Session, user: User) -> str | None:
    session.expire_all()
    fresh = session.get(User, user.id)
    assert fresh is not None
    return fresh.display_name


PROFILE = {"display_name": "Alice M.", "commune": "62510", "birth_year": ""}


def test_form_without_token_is_refused_and_changes_nothing(browser: TestClient, alice: User,
                                                            session: Session) -> None:
    assert CSRF_COOKIE in browser.cookies
    response = browser.post("/compte/profil", data=PROFILE, follow_redirects=False)
    assert_refused_page(response)
    assert _name(session, alice) == "Alice Martin"


def test_form_with_a_wrong_token_is_refused(browser: TestClient, alice: User, session: Session) -> None:
    right = csrf(browser)
    almost = right[:-1] + ("1" if right.endswith("0") else "0")  # one character off, never the right one
    for token in ("", "0" * 64, almost):
        response = browser.post("/compte/profil", data={**PROFILE, "csrf_token": token}, follow_redirects=False)
        assert_refused_page(response)
    assert _name(session, alice) == "Alice Martin"


def test_token_of_another_browser_is_refused(app: FastAPI, browser: TestClient, alice: User,
                                            session: Session) -> None:
    with TestClient(app) as attacker:
        token = csrf(attacker)  # valid, but for the attacker's own cookie
    assert token != csrf(browser)
    response = browser.post("/compte/profil", data={**PROFILE, "csrf_token": token}, follow_redirects=False)
    assert_refused_page(response)
    response = browser.post("/compte/profil", data=PROFILE, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert_refused_page(response)
    assert _name(session, alice) == "Alice Martin"


def test_form_with_its_token_passes(browser: TestClient, alice: User, session: Session) -> None:
    response = browser.post("/compte/profil", data={**PROFILE, "csrf_token": csrf(browser)}, follow_redirects=False)
    assert response.status_code == 303
    assert _name(session, alice) == "Alice M."


def test_htmx_header_passes(browser: TestClient, alice: User, session: Session) -> None:
    response = browser.post("/compte/profil", data=PROFILE, follow_redirects=False,
                            headers={"X-CSRF-Token": csrf(browser), "HX-Request": "true"})
    assert response.status_code == 303
    assert _name(session, alice) == "Alice M."


def test_cross_site_request_is_refused_even_with_the_token(browser: TestClient, alice: User,
                                                           session: Session) -> None:
    token = csrf(browser)
    response = browser.post("/compte/profil", data={**PROFILE, "csrf_token": token}, follow_redirects=False,
                            headers={"Sec-Fetch-Site": "cross-site"})
    assert_refused_page(response)
    assert _name(session, alice) == "Alice Martin"
    response = browser.post("/compte/profil", data={**PROFILE, "csrf_token": token}, follow_redirects=False,
                            headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303


def test_login_form_needs_the_token_too(app: FastAPI, alice: User) -> None:
    """Without it, another site could sign a visitor in to an account of the attacker's."""
    with TestClient(app) as visitor:
        response = visitor.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD},
                                follow_redirects=False)
        assert_refused_page(response)  # the visitor has no cookie at all
        csrf(visitor)
        response = visitor.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD},
                                follow_redirects=False)
        assert_refused_page(response)  # the cookie, but not the token
        assert signed_in_as(visitor) is None


def test_sign_out_needs_the_token(browser: TestClient, alice: User) -> None:
    assert_refused_page(browser.post("/deconnexion", follow_redirects=False))
    assert signed_in_as(browser) == alice.id


def test_api_with_the_session_cookie_needs_the_header(browser: TestClient, alice: User, session: Session) -> None:
    assert_refused_problem(browser.delete("/api/v1/me"))
    assert_refused_problem(browser.delete("/api/v1/me", headers={"X-CSRF-Token": "0" * 64}))
    session.expire_all()
    assert not session.get(User, alice.id).is_erased  # type: ignore[union-attr]
    assert signed_in_as(browser) == alice.id

    assert browser.delete("/api/v1/me", headers={"X-CSRF-Token": csrf(browser)}).status_code == 204
    session.expire_all()
    assert session.get(User, alice.id).is_erased  # type: ignore[union-attr]


def _bearer(session: Session, user: User) -> dict[str, str]:
    _token, raw = service.create_access_token(session, user, name="script", now=T0)
    session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_bearer_token_needs_no_csrf_token(browser: TestClient, alice: User, session: Session) -> None:
    """A program's token is not sent by browsers on their own: nothing to forge. The browser here
    even holds Alice's cookies: the bearer token is what counts."""
    assert browser.cookies
    response = browser.delete("/api/v1/me", headers=_bearer(session, alice))
    assert response.status_code == 204
    session.expire_all()
    assert session.get(User, alice.id).is_erased  # type: ignore[union-attr]


def test_bearer_token_without_any_cookie(app: FastAPI, alice: User, session: Session) -> None:
    with TestClient(app) as program:
        assert program.delete("/api/v1/me", headers=_bearer(session, alice)).status_code == 204


def test_api_request_without_cookies_meets_authentication_not_csrf(app: FastAPI, alice: User) -> None:
    with TestClient(app) as program:
        for response in (program.delete("/api/v1/me"),
                         program.post(f"/api/v1/users/{alice.id}/residence-verification")):
            assert response.status_code == 401
            assert response.headers["content-type"] == PROBLEM_JSON
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert not program.cookies


def test_bearer_exemption_is_only_for_the_api(browser: TestClient, alice: User, session: Session) -> None:
    response = browser.post("/compte/profil", data=PROFILE, headers=_bearer(session, alice), follow_redirects=False)
    assert_refused_page(response)
    assert _name(session, alice) == "Alice Martin"


# --- the routes themselves


def _routes(app: FastAPI) -> list[tuple[str, set[str], object]]:
    return [
        (context.path, set(context.methods or ()), context.endpoint)
        for context in iter_route_contexts(app.routes)
        if context.endpoint is not None and context.methods
    ]


# Everything in accounts that changes something on the server, and the methods it answers to.
STATE_CHANGING = {
    pages.sign_in: ("/connexion", {"POST"}),
    pages.sign_out: ("/deconnexion", {"POST"}),
    pages.sign_up: ("/inscription", {"POST"}),
    pages.confirm: ("/inscription/confirmer", {"POST"}),
    pages.forgot: ("/mot-de-passe-oublie", {"POST"}),
    pages.reset: ("/mot-de-passe/nouveau", {"POST"}),
    pages.onboarding: ("/compte/bienvenue", {"POST"}),
    pages.update_profile: ("/compte/profil", {"POST"}),
    pages.change_password: ("/compte/mot-de-passe", {"POST"}),
    pages.sign_out_everywhere: ("/compte/sessions/fermer", {"POST"}),
    pages.create_token: ("/compte/jetons", {"POST"}),
    pages.revoke_token: ("/compte/jetons/{token_id}/revoquer", {"POST"}),
    pages.erase: ("/compte/supprimer", {"POST"}),
    erase_me: ("/api/v1/me", {"DELETE"}),
    verify_residence: ("/api/v1/users/{user_id}/residence-verification", {"POST"}),
}
# Paths that only act: nothing may answer GET there.
ACTION_ONLY = ("/deconnexion", "/compte/profil", "/compte/mot-de-passe", "/compte/sessions/fermer",
               "/compte/jetons", "/compte/jetons/{token_id}/revoquer")


def test_state_changes_only_through_unsafe_methods(app: FastAPI) -> None:
    routes = _routes(app)
    served = {endpoint: (path, methods) for path, methods, endpoint in routes}
    for endpoint, expected in STATE_CHANGING.items():
        assert served.get(endpoint) == expected, endpoint
    for path, methods, endpoint in routes:
        if methods & {"GET", "HEAD"}:
            assert endpoint not in STATE_CHANGING, f"GET {path} reaches {endpoint}"
            assert path not in ACTION_ONLY, f"GET {path}"


def test_every_unsafe_route_checks_csrf(app: FastAPI) -> None:
    unsafe = [(path, context) for context in iter_route_contexts(app.routes)
              if (path := context.path) and set(context.methods or ()) - SAFE_METHODS]
    assert len(unsafe) >= len(STATE_CHANGING)
    for path, context in unsafe:
        assert any(dependency.dependency is verify_csrf for dependency in context.dependencies), path


@pytest.mark.parametrize("path", ["/deconnexion", "/compte/sessions/fermer", "/compte/jetons",
                                  "/compte/jetons/1/revoquer", "/compte/profil", "/compte/mot-de-passe"])
def test_get_on_an_action_is_refused(browser: TestClient, alice: User, path: str) -> None:
    assert browser.get(path, follow_redirects=False).status_code == 405
    assert signed_in_as(browser) == alice.id


def test_get_pages_in_front_of_actions_change_nothing(app: FastAPI, browser: TestClient, alice: User,
                                                      session: Session) -> None:
    """A mail scanner or a prefetch may open any link: the pages only show a button."""
    bob = service.create_user(session, display_name="Bob Durand", email="bob@example.fr", password=PASSWORD, now=T0)
    raw = service.issue_account_token(session, bob, AccountTokenKind.confirm_email, now=T0,
                                      ttl=service.CONFIRMATION_TTL)
    session.commit()
    with TestClient(app) as scanner:
        page = scanner.get("/inscription/confirmer", params={"jeton": raw})
        assert page.status_code == 200
        assert raw in page.text  # in the form, for the button
        assert signed_in_as(scanner) is None
    session.expire_all()
    assert not session.get(User, bob.id).is_email_confirmed  # type: ignore[union-attr]

    assert browser.get("/compte/supprimer").status_code == 200
    session.expire_all()
    assert not session.get(User, alice.id).is_erased  # type: ignore[union-attr]
    assert signed_in_as(browser) == alice.id
    assert session.exec(select(AccessToken)).all() == []

    # The link still works, by POST, in the right person's browser.
    with TestClient(app) as bobs_browser:
        response = bobs_browser.post("/inscription/confirmer", data={"jeton": raw, "csrf_token": csrf(bobs_browser)},
                                     follow_redirects=False)
        assert response.status_code == 303
        assert signed_in_as(bobs_browser) == bob.id
