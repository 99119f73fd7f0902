"""Who is asking: get_principal from a bearer token or the session cookie, and what pages and the
API answer when nobody (valid) is."""

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service
from app.accounts.deps import CurrentPrincipal, OptionalPrincipal
from app.accounts.models import AccessToken, Role, User
from app.core.errors import PROBLEM_JSON
from tests.participation import csrf
from tests.support import PASSWORD, T0, cheap_password_hashing, make_resident, sign_in_with_password

INVALID_TOKEN = "Ce jeton d’accès n’est pas valable (inconnu ou révoqué)."


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~85 ms a hash; these tests are not about hashing."""
    cheap_password_hashing(monkeypatch)


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def assert_unauthorized(response, detail: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'Bearer realm="carreau"'
    body = response.json()
    assert body["status"] == 401
    if detail is not None:
        assert body["detail"] == detail


@pytest.fixture
def alice(session: Session) -> User:
    return make_resident(session, "alice@example.fr")


@pytest.fixture
def token(session: Session, alice: User) -> tuple[AccessToken, str]:
    found = service.create_access_token(session, alice, name="script", now=T0)
    session.commit()
    return found


def test_valid_bearer_token(client: TestClient, alice: User, token: tuple[AccessToken, str],
                            session: Session) -> None:
    service.grant_role(session, alice, Role.moderator, axis_id=1, now=T0)
    session.commit()
    response = client.get("/api/v1/me", headers=bearer(token[1]))
    assert response.status_code == 200
    me = response.json()
    assert me["id"] == alice.id
    assert me["commune_insee"] == "62510"
    assert {"role": "moderator", "axis": 1, "consultation": None, "commune": None} in me["roles"]
    assert not client.cookies  # a program gets no session
    session.refresh(token[0])
    assert token[0].last_used_at is not None


def test_bearer_scheme_is_case_insensitive(client: TestClient, alice: User, token: tuple[AccessToken, str]) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"bearer {token[1]}"})
    assert response.json()["id"] == alice.id


def test_revoked_token(client: TestClient, session: Session, alice: User, token: tuple[AccessToken, str]) -> None:
    assert token[0].id is not None
    service.revoke_access_token(session, alice, token[0].id, now=T0)
    session.commit()
    assert_unauthorized(client.get("/api/v1/me", headers=bearer(token[1])), INVALID_TOKEN)


@pytest.mark.parametrize("raw", ["carreau_" + "A" * 43, "not-even-ours", ""])
def test_unknown_token(client: TestClient, alice: User, token: tuple[AccessToken, str], raw: str) -> None:
    assert_unauthorized(client.get("/api/v1/me", headers=bearer(raw)), INVALID_TOKEN)


def test_token_of_an_erased_person(client: TestClient, session: Session, alice: User,
                                   token: tuple[AccessToken, str]) -> None:
    alice.erased_at = T0  # even if the token survived the erasure
    session.add(alice)
    session.commit()
    assert_unauthorized(client.get("/api/v1/me", headers=bearer(token[1])), INVALID_TOKEN)


def test_bearer_token_wins_over_the_session_cookie(app: FastAPI, client: TestClient, session: Session,
                                                   alice: User, token: tuple[AccessToken, str]) -> None:
    bob = make_resident(session, "bob@example.fr", "Bob Durand")
    sign_in_with_password(client, "bob@example.fr")
    assert client.get("/api/v1/me").json()["id"] == bob.id
    assert client.get("/api/v1/me", headers=bearer(token[1])).json()["id"] == alice.id
    # A bad token is refused, not silently replaced by the cookie's person.
    assert_unauthorized(client.get("/api/v1/me", headers=bearer("carreau_nope")), INVALID_TOKEN)


def test_no_credentials_on_the_api(client: TestClient) -> None:
    assert_unauthorized(client.get("/api/v1/me"), "Connectez-vous pour continuer.")
    assert_unauthorized(client.get("/api/v1/me/export"))


def test_session_of_an_erased_person_is_anonymous(app: FastAPI, client: TestClient, session: Session,
                                                  alice: User) -> None:
    sign_in_with_password(client, "alice@example.fr")
    assert client.get("/api/v1/me").status_code == 200
    alice.erased_at = T0  # a session left behind (erasure normally closes them all)
    session.add(alice)
    session.commit()
    assert_unauthorized(client.get("/api/v1/me"))
    response = client.get("/compte", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?")


@pytest.fixture
def probe(app: FastAPI) -> FastAPI:
    """A test-only page showing who get_principal says is asking (computed once per request)."""

    @app.get("/test/qui")
    def _who(request: Request, principal: OptionalPrincipal, again: OptionalPrincipal) -> dict[str, object]:
        assert principal is again
        return {"id": principal.id if principal else None, "cached": request.state.principal is principal}

    return app


def test_get_principal_for_visitors_and_residents(probe: FastAPI, client: TestClient, alice: User) -> None:
    assert client.get("/test/qui").json() == {"id": None, "cached": True}
    sign_in_with_password(client, "alice@example.fr")
    assert client.get("/test/qui").json() == {"id": alice.id, "cached": True}


@pytest.mark.parametrize("path", ["/compte", "/compte/supprimer", "/compte/bienvenue?q=Li%C3%A9vin&commune=62510",
                                  "/compte/donnees.json"])
def test_pages_send_visitors_to_sign_in_and_back(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/connexion"
    assert parse_qs(location.query) == {"next": [path]}
    assert "HX-Redirect" not in response.headers


def test_htmx_requests_are_sent_to_sign_in_with_hx_redirect(client: TestClient) -> None:
    response = client.get("/compte/bienvenue?q=Lens", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 204
    assert "location" not in response.headers
    location = urlsplit(response.headers["HX-Redirect"])
    assert location.path == "/connexion"
    assert parse_qs(location.query) == {"next": ["/compte/bienvenue?q=Lens"]}


def test_unsafe_page_request_of_a_visitor_goes_to_sign_in(client: TestClient) -> None:
    response = client.post("/compte/profil", data={"display_name": "X", "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?next=%2Fcompte%2Fprofil"


def test_the_sign_in_page_comes_back_to_next(client: TestClient, alice: User) -> None:
    next_path = "/compte/supprimer"
    response = client.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD,
                                               "next": next_path, "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == next_path


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_the_sign_in_page_never_sends_elsewhere(client: TestClient, alice: User, next_path: str) -> None:
    response = client.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD,
                                               "next": next_path, "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.headers["location"] == "/"


def test_current_principal_dependency(probe: FastAPI, client: TestClient, alice: User) -> None:
    @probe.get("/api/v1/test/moi")
    def _me(principal: CurrentPrincipal) -> dict[str, int]:
        return {"id": principal.id}

    assert_unauthorized(client.get("/api/v1/test/moi"))
    sign_in_with_password(client, "alice@example.fr")
    assert client.get("/api/v1/test/moi").json() == {"id": alice.id}
