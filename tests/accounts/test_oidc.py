"""OpenID Connect sign-in end to end, through Carreau's own pages, against the FranceConnect-like
test provider (tests/oidc_provider): the authorization request, the callback and its failures
(login CSRF, replay, acr, nonce, issuer mix-up, someone else's userinfo), account linking by a
verified e-mail address, and logout at the provider."""

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts import oidc
from app.accounts.models import OidcIdentity, User, UserSession
from app.accounts.service import create_user
from app.accounts.sessions import SessionStore, token_hash
from app.core.settings import OidcProvider as ProviderSettings
from app.core.settings import Settings
from app.main import create_app
from app.territory.models import Commune
from tests.accounts.conftest import OidcProvider
from tests.support import assert_page, use_session

BASE_URL = "http://testserver"
COOKIE = "carreau_session"  # no __Host- prefix: the test site is http://
SCOPES = "openid given_name family_name birthdate email"
CALLBACK = f"{BASE_URL}/auth/fc/callback"
LOGGED_OUT = f"{BASE_URL}/auth/fc/logged-out"
FAILED = "personne n’a été connecté"
CANCELLED = "Vous avez annulé la connexion"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- fixtures


@pytest.fixture
def op(oidc_provider: OidcProvider) -> Iterator[OidcProvider]:
    """The session-wide provider, back to its default account (Angela DUBOIS) after the test."""
    yield oidc_provider
    oidc_provider.reset()


@pytest.fixture
def make_app(settings: Settings, session: Session, op: OidcProvider) -> Iterator[Callable[..., FastAPI]]:
    """Carreau with FranceConnect ("fc") pointing at the test provider; keyword arguments change
    the provider's settings (acr_values, issuer…)."""
    apps: list[FastAPI] = []

    def make(**changes: Any) -> FastAPI:
        provider = ProviderSettings(**{
            "name": "fc", "display_name": "FranceConnect", "issuer": op.issuer, "client_id": op.client_id,
            "client_secret": op.client_secret, "scopes": SCOPES, "acr_values": "eidas1", "trusted": True,
            "button": "franceconnect", **changes,
        })
        app = create_app(settings.model_copy(update={"oidc_providers": [provider], "base_url": BASE_URL}))
        use_session(app, session)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def clients() -> Iterator[Callable[[FastAPI], TestClient]]:
    """New "browsers" on Carreau, each with its own cookies, that do not follow redirects."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(TestClient(app, follow_redirects=False))


@pytest.fixture
def rp(app: FastAPI, clients: Callable[[FastAPI], TestClient]) -> TestClient:
    return clients(app)


@pytest.fixture
def browsers() -> Iterator[Callable[[], httpx2.Client]]:
    """New browsers on the provider's side (each keeps its own provider cookies)."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(httpx2.Client())


# --- helpers


def go_to_provider(rp: TestClient, next_url: str = "/territoire") -> str:
    response = rp.get("/auth/fc/login", params={"next": next_url})
    assert response.status_code == 302, response.text[:500]
    return response.headers["location"]


def through_provider(op: OidcProvider, rp: TestClient, browser: httpx2.Client, next_url: str = "/territoire") -> str:
    """Start a login on Carreau, let the provider log the person in, and return the callback
    (path and query) the browser is sent back to."""
    back = op.follow(browser, go_to_provider(rp, next_url))
    assert (back.scheme, back.host) == ("http", "testserver")
    assert back.path == "/auth/fc/callback"
    return back.raw_path.decode()


def sign_in(op: OidcProvider, rp: TestClient, browser: httpx2.Client, next_url: str = "/territoire") -> httpx2.Response:
    response = rp.get(through_provider(op, rp, browser, next_url))
    assert response.status_code == 303, response.text[:1000]
    return response


def query_of(url: str) -> dict[str, str]:
    return dict(httpx2.URL(url).params)


def with_query(path: str, **changes: str | None) -> str:
    """`path` with some query parameters replaced (or removed when None)."""
    url = httpx2.URL(path)
    params = {k: v for k, v in {**dict(url.params), **changes}.items() if v is not None}
    return str(url.copy_with(params=params).raw_path.decode())


def csrf_of(rp: TestClient, path: str = "/") -> str:
    page = rp.get(path)
    assert page.status_code == 200, page.text[:500]
    found = CSRF_INPUT.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def user_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def signed_in_sessions(session: Session) -> int:
    query = select(func.count()).select_from(UserSession).where(col(UserSession.user_id).is_not(None))
    return session.exec(query).one()


def identities(session: Session, **where: Any) -> list[OidcIdentity]:
    query = select(OidcIdentity)
    for name, value in where.items():
        query = query.where(getattr(OidcIdentity, name) == value)
    return list(session.exec(query))


def session_data(app: FastAPI, rp: TestClient) -> tuple[SessionStore, str, dict[str, Any]]:
    store: SessionStore = app.state.session_store
    key = token_hash(rp.cookies[COOKIE])
    stored = store.load(key)
    assert stored is not None
    return store, key, stored.data


def assert_failed(response: httpx2.Response, rp: TestClient, text: str = FAILED) -> None:
    """The French failure page, and nobody signed in in this browser."""
    page = assert_page(response, 400)
    assert "La connexion n’a pas abouti" in page
    assert text in page
    assert "Aucune session n’a été ouverte" in page
    assert response.headers.get("location") is None
    assert rp.get("/api/v1/me").status_code == 401


@pytest.fixture
def nobody_signs_in(session: Session) -> Iterator[None]:
    """The test must leave no account, identity or signed-in session behind."""
    before = user_count(session), len(identities(session)), signed_in_sessions(session)
    yield
    assert (user_count(session), len(identities(session)), signed_in_sessions(session)) == before


# --- the sign-in page and the authorization request


def test_sign_in_page_shows_the_official_franceconnect_button(rp: TestClient) -> None:
    page = assert_page(rp.get("/connexion?next=/territoire"))
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/vendor/dsfr-connect/connect\.standalone-[^"]+)"',
                           page)
    assert stylesheet, "the standalone FranceConnect stylesheet is not linked"
    css = rp.get(stylesheet.group(1))
    assert css.status_code == 200
    assert ".fr-connect" in css.text
    assert '<form method="get" action="/auth/fc/login">' in page
    assert '<input type="hidden" name="next" value="/territoire">' in page
    assert re.search(r'<button class="fr-connect" type="submit">\s*<span class="fr-connect__login">S’identifier avec'
                     r'</span>\s*<span class="fr-connect__brand">FranceConnect</span>', page)
    link = re.search(r'<a href="https://franceconnect.gouv.fr/"([^>]*)>Qu’est-ce que FranceConnect \?</a>', page)
    assert link, "no « Qu’est-ce que FranceConnect ? » link"
    assert 'target="_blank"' in link.group(1)
    assert 'title="Qu’est-ce que FranceConnect ? - nouvelle fenêtre"' in link.group(1)


def test_login_sends_the_browser_to_the_provider_with_state_nonce_acr_and_pkce(
    op: OidcProvider, app: FastAPI, rp: TestClient
) -> None:
    location = go_to_provider(rp)
    url = httpx2.URL(location)
    assert str(url.copy_with(query=None)) == op.metadata["authorization_endpoint"]
    params = query_of(location)
    assert params["response_type"] == "code"
    assert params["client_id"] == op.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"] == SCOPES
    assert params["acr_values"] == "eidas1"
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32
    assert params["state"] != params["nonce"]
    assert params["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"])  # base64url(SHA-256), not the verifier
    # The state is kept in this browser's server-side session, with the nonce and the verifier.
    _store, _key, data = session_data(app, rp)
    kept = data[f"_state_fc_{params['state']}"]["data"]
    assert kept["nonce"] == params["nonce"]
    assert kept["redirect_uri"] == CALLBACK
    assert kept["code_verifier"] not in location
    # Every login draws new values.
    again = query_of(go_to_provider(rp))
    assert {again["state"], again["nonce"], again["code_challenge"]}.isdisjoint(
        {params["state"], params["nonce"], params["code_challenge"]})


# --- the whole flow


def test_first_login_creates_a_verified_account_then_onboarding_then_the_same_account_again(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session,
    clients: Callable[[FastAPI], TestClient], browsers: Callable[[], httpx2.Client],
) -> None:
    users_before = user_count(session)
    callback = through_provider(op, rp, browsers())
    anonymous_cookie = rp.cookies[COOKIE]
    response = rp.get(callback)
    assert response.status_code == 303
    assert response.headers["location"] == "/compte/bienvenue?next=%2Fterritoire"
    # A new session id at sign-in (no fixation); the anonymous one is gone.
    assert rp.cookies[COOKIE] != anonymous_cookie
    assert app.state.session_store.load(token_hash(anonymous_cookie)) is None

    assert user_count(session) == users_before + 1
    [identity] = identities(session, subject="angela")
    assert (identity.issuer, identity.provider) == (op.issuer, "fc")
    user = session.get(User, identity.user_id)
    assert user is not None
    assert user.is_identity_verified
    assert (user.given_name, user.family_name, user.birth_year) == ("Angela Claire Louise", "DUBOIS", 1962)
    assert (user.email, user.is_email_confirmed) == ("angela@example.fr", True)
    assert user.display_name == "Angela D."
    assert user.password_hash is None
    _store, _key, data = session_data(app, rp)
    assert data["oidc"]["provider"] == "fc"
    assert jwt_claims(data["oidc"]["id_token"])["sub"] == "angela"
    assert not any(key.startswith("_state_") for key in data)

    # Onboarding: FranceConnect already gave the birth year; the person chooses a commune.
    onboarding = assert_page(rp.get(response.headers["location"]))
    assert "FranceConnect nous a transmis votre année de naissance : 1962." in onboarding
    commune = session.exec(select(Commune).where(col(Commune.is_in_perimeter)).order_by(Commune.insee_code)).first()
    assert commune is not None
    done = rp.post("/compte/bienvenue", data={
        "csrf_token": CSRF_INPUT.search(onboarding).group(1),  # type: ignore[union-attr]
        "next": "/territoire", "commune": commune.insee_code, "accept_terms": "yes",
    })
    assert done.status_code == 303, done.text[:1000]
    assert done.headers["location"] == "/territoire"
    me = rp.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    assert me.json()["commune_insee"] == commune.insee_code

    # Later, in another browser: the same account, straight to `next`.
    other = clients(app)
    again = sign_in(op, other, browsers(), next_url="/territoire/communes")
    assert again.headers["location"] == "/territoire/communes"
    assert other.get("/api/v1/me").json()["id"] == user.id
    assert user_count(session) == users_before + 1
    assert len(identities(session, user_id=user.id)) == 1


# --- failures: nobody is signed in


@pytest.mark.parametrize("state", [None, "altered"], ids=["state-missing", "state-altered"])
def test_callback_without_its_state_signs_nobody_in(
    op: OidcProvider, rp: TestClient, browsers: Callable[[], httpx2.Client], nobody_signs_in: None,
    state: str | None,
) -> None:
    callback = through_provider(op, rp, browsers())
    if state is not None:
        state = secrets.token_urlsafe(32)
    assert_failed(rp.get(with_query(callback, state=state)), rp)


def test_callback_replayed_fails_the_second_time(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session, browsers: Callable[[], httpx2.Client],
) -> None:
    callback = through_provider(op, rp, browsers())
    assert rp.get(callback).status_code == 303
    signed_in_cookie = rp.cookies[COOKIE]
    users, sessions = user_count(session), signed_in_sessions(session)

    replay = rp.get(callback)
    page = assert_page(replay, 400)
    assert FAILED in page
    # The replay opened nothing: the person keeps the one session of the first callback.
    assert rp.cookies[COOKIE] == signed_in_cookie
    assert (user_count(session), signed_in_sessions(session)) == (users, sessions)


def test_code_replayed_with_a_forged_state_is_refused_by_the_provider(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session,
    clients: Callable[[FastAPI], TestClient], browsers: Callable[[], httpx2.Client],
) -> None:
    """Even with the state check out of the way (the attacker copied the first browser's state
    data into their own session), the provider refuses a code that was already exchanged."""
    callback = through_provider(op, rp, browsers())
    state = query_of(callback)["state"]
    _store, _key, data = session_data(app, rp)
    kept = data[f"_state_fc_{state}"]
    assert rp.get(callback).status_code == 303
    sessions = signed_in_sessions(session)

    attacker = clients(app)
    go_to_provider(attacker)  # an anonymous session of their own
    store, key, attacker_data = session_data(app, attacker)
    stored = store.load(key)
    assert stored is not None
    stored.data = {**attacker_data, f"_state_fc_{state}": kept}
    store.save(key, stored)
    assert_failed(attacker.get(callback), attacker)
    assert signed_in_sessions(session) == sessions


def test_callback_carried_to_another_browser_signs_nobody_in(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session,
    clients: Callable[[FastAPI], TestClient], browsers: Callable[[], httpx2.Client],
) -> None:
    users = user_count(session)
    callback = through_provider(op, rp, browsers())
    other = clients(app)
    assert_failed(other.get(callback), other)
    assert user_count(session) == users
    assert signed_in_sessions(session) == 0
    # The state belongs to the browser that started the login, which can still finish it.
    assert rp.get(callback).status_code == 303
    assert rp.get("/api/v1/me").status_code == 200
    assert other.get("/api/v1/me").status_code == 401


def test_login_cancelled_at_the_provider(
    op: OidcProvider, rp: TestClient, browsers: Callable[[], httpx2.Client], nobody_signs_in: None,
) -> None:
    op.set_account(error="access_denied")
    callback = through_provider(op, rp, browsers())
    assert query_of(callback)["error"] == "access_denied"
    assert "code" not in query_of(callback)
    assert_failed(rp.get(callback), rp, CANCELLED)


def test_acr_below_the_accepted_level_is_refused(
    op: OidcProvider, make_app: Callable[..., FastAPI], clients: Callable[[FastAPI], TestClient],
    browsers: Callable[[], httpx2.Client], nobody_signs_in: None,
) -> None:
    rp = clients(make_app(acr_values="eidas2"))
    op.set_account(acr="eidas1")
    callback = through_provider(op, rp, browsers())
    assert_failed(rp.get(callback), rp)


def test_nonce_mismatch_is_refused(
    op: OidcProvider, app: FastAPI, rp: TestClient, browsers: Callable[[], httpx2.Client], nobody_signs_in: None,
) -> None:
    callback = through_provider(op, rp, browsers())
    store, key, data = session_data(app, rp)
    state_key = f"_state_fc_{query_of(callback)['state']}"
    data[state_key]["data"]["nonce"] = secrets.token_urlsafe(32)
    stored = store.load(key)
    assert stored is not None
    stored.data = data
    store.save(key, stored)
    assert_failed(rp.get(callback), rp)


def test_userinfo_about_someone_else_is_refused(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session,
    clients: Callable[[FastAPI], TestClient], browsers: Callable[[], httpx2.Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider always answers userinfo for the access token's owner, so the test swaps the
    access token Carreau uses for userinfo with another person's: a real userinfo JWT, signed by
    the provider, about someone else than the ID token's subject."""
    real_userinfo = oidc._userinfo
    tokens: list[dict[str, Any]] = []

    async def recording(client: Any, provider: Any, metadata: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        tokens.append(token)
        return await real_userinfo(client, provider, metadata, token)

    monkeypatch.setattr(oidc, "_userinfo", recording)
    op.set_account(sub="bob", given_name="Bob", email="bob@example.fr")
    sign_in(op, clients(app), browsers())
    [bob_token] = tokens
    op.reset()

    answered: list[dict[str, Any]] = []

    async def swapped(client: Any, provider: Any, metadata: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        claims = await real_userinfo(client, provider, metadata, {**token, "access_token": bob_token["access_token"]})
        answered.append(claims)
        return claims

    monkeypatch.setattr(oidc, "_userinfo", swapped)
    users, sessions = user_count(session), signed_in_sessions(session)
    callback = through_provider(op, rp, browsers())
    assert_failed(rp.get(callback), rp)
    [claims] = answered  # verified (signature, issuer, audience): only the subject gives it away
    assert (claims["sub"], claims["given_name"]) == ("bob", "Bob")
    assert identities(session, subject="angela") == []
    assert (user_count(session), signed_in_sessions(session)) == (users, sessions)


@pytest.mark.parametrize("where", ["host-alias", "trailing-path"])
def test_provider_calling_itself_another_issuer_is_refused_before_redirecting(
    op: OidcProvider, make_app: Callable[..., FastAPI], clients: Callable[[FastAPI], TestClient],
    session: Session, nobody_signs_in: None, where: str,
) -> None:
    port = httpx2.URL(op.issuer).port
    if where == "host-alias":  # the same server, reached under another name: discovery says 127.0.0.1
        changes = {"issuer": f"http://localhost:{port}"}
    else:  # discovery found elsewhere, issuer configured with a path the provider does not claim
        changes = {"issuer": f"{op.issuer}/api/v2", "discovery_url": f"{op.issuer}/.well-known/openid-configuration"}
    app = make_app(**changes)
    rp = clients(app)
    response = rp.get("/auth/fc/login", params={"next": "/territoire"})
    page = assert_page(response, 400)
    assert FAILED in page
    assert "ne répond pas" not in page  # the provider answered; its answer was refused
    assert "location" not in response.headers
    assert COOKIE not in rp.cookies or not any(key.startswith("_state_") for key in session_data(app, rp)[2])
    assert rp.get("/api/v1/me").status_code == 401


# --- account linking


@pytest.mark.parametrize(
    ("local_confirmed", "email_verified", "linked"),
    [(True, True, True), (True, False, False), (False, True, False)],
    ids=["confirmed-and-verified", "provider-does-not-vouch", "local-address-unconfirmed"],
)
def test_linking_to_a_local_account_by_email(
    op: OidcProvider, app: FastAPI, rp: TestClient, session: Session, browsers: Callable[[], httpx2.Client],
    local_confirmed: bool, email_verified: bool, linked: bool,
) -> None:
    local = create_user(session, display_name="Angela", email="angela@example.fr",
                        is_email_confirmed=local_confirmed, now=app.state.clock())
    session.commit()
    users = user_count(session)
    if not email_verified:
        op.set_account(email_verified=False)
    sign_in(op, rp, browsers())
    [identity] = identities(session, subject="angela", issuer=op.issuer)
    me = rp.get("/api/v1/me").json()
    assert me["id"] == identity.user_id
    if linked:
        assert identity.user_id == local.id
        assert user_count(session) == users
        session.refresh(local)
        assert local.is_identity_verified
        assert local.birth_year == 1962
    else:
        assert identity.user_id != local.id
        assert user_count(session) == users + 1
        assert identities(session, user_id=local.id) == []
        new = session.get(User, identity.user_id)
        assert new is not None
        assert new.email is None  # the address stays with the local account, unproven here
        session.refresh(local)
        assert (local.email, local.is_email_confirmed) == ("angela@example.fr", local_confirmed)
        assert not local.is_identity_verified


# --- logout


def test_logout_ends_the_session_here_and_at_the_provider(
    op: OidcProvider, app: FastAPI, rp: TestClient, clients: Callable[[FastAPI], TestClient],
    browsers: Callable[[], httpx2.Client],
) -> None:
    browser = browsers()
    sign_in(op, rp, browser)
    signed_in_cookie = rp.cookies[COOKIE]
    id_token = session_data(app, rp)[2]["oidc"]["id_token"]

    response = rp.post("/deconnexion", data={"csrf_token": csrf_of(rp)})
    assert response.status_code == 302
    location = response.headers["location"]
    assert str(httpx2.URL(location).copy_with(query=None)) == op.metadata["end_session_endpoint"]
    params = query_of(location)
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == LOGGED_OUT
    assert len(params["state"]) >= 32

    # The old session is dead at once, whoever presents its cookie.
    assert app.state.session_store.load(token_hash(signed_in_cookie)) is None
    assert rp.cookies[COOKIE] != signed_in_cookie
    assert rp.get("/api/v1/me").status_code == 401
    thief = clients(app)
    assert thief.get("/api/v1/me", headers={"cookie": f"{COOKIE}={signed_in_cookie}"}).status_code == 401

    back = op.follow(browser, location)
    assert (back.host, back.path) == ("testserver", "/auth/fc/logged-out")
    assert query_of(str(back))["state"] == params["state"]
    home = rp.get(back.raw_path.decode())
    assert home.status_code == 303
    assert home.headers["location"] == "/"
    assert "Vous êtes déconnecté·e, ici et chez FranceConnect." in assert_page(rp.get("/"))
    assert rp.get("/api/v1/me").status_code == 401


# --- unknown provider


@pytest.mark.parametrize("path", ["/auth/nope/login", "/auth/nope/callback?code=x&state=y"])
def test_unknown_provider_is_a_404_page(rp: TestClient, path: str) -> None:
    page = assert_page(rp.get(path), 404)
    assert "Ce service de connexion n’est pas proposé ici." in page
