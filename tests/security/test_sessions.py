"""Sessions and sign-in, attacked (SECURITY-NOTES F4, F5, G1, D7, I1): session fixation, idle and
absolute expiry, sign-out revoking on the server, CSRF on every unsafe route of the router, open
redirects on every `next=`/`retour` parameter, user enumeration by message and timing, and rate
limits shared by several workers through Redis."""

import hashlib
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, select

from app.accounts import routes as account_pages
from app.accounts.models import Role, User
from app.accounts.sessions import StoredSession, cookie_name, token_hash
from app.core.csrf import CSRF_COOKIE, SAFE_METHODS
from app.core.errors import PROBLEM_JSON
from app.core.ratelimit import RateLimiter, TooManyRequests
from app.core.settings import Settings
from app.main import create_app
from app.site import routes as site_pages
from tests.accounts.test_sessions import Clock
from tests.factories import bearer, make_consultation, make_proposal
from tests.participation import csrf
from tests.support import (
    PASSWORD,
    REDIS_URL,
    T0,
    cheap_password_hashing,
    make_resident,
    redis_client,
    sign_in_with_password,
    use_session,
)

COOKIE = cookie_name(False)
# A Redis database of these tests' own (the limiter counts per client address, which every test
# client shares: other tests using Redis must not use up our attempts, nor we theirs).
SECURITY_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/12"
REFUSED = "La vérification de sécurité du formulaire a échoué. Rechargez la page, puis réessayez."


def browser(app: FastAPI) -> TestClient:
    """A browser at an address of its own: the limits per address in Redis are shared by every
    test (and xdist worker) using it, and must not be used up by the others."""
    return TestClient(app, client=(f"test-{uuid.uuid4().hex}", 50000))


def whoami(client: TestClient, cookie: str | None = None) -> int | None:
    """Who the session stands for; with `cookie`, only that session cookie is sent."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else None
    response = client.get("/api/v1/me", headers=headers)
    return response.json()["id"] if response.status_code == 200 else None


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


# --- fixation


@pytest.mark.usefixtures("cheap_hashing")
def test_a_planted_session_is_not_the_one_after_sign_in(app: FastAPI, client: TestClient, session: Session) -> None:
    """An attacker plants a session id (one of theirs, which exists on the server, or one made up)
    in the victim's browser: after the victim signs in, neither id stands for the victim."""
    alice = make_resident(session, "alice@example.fr")
    planted = "planted-" + uuid.uuid4().hex
    store = app.state.session_store
    store.save(token_hash(planted), StoredSession(None, {"flash": {"message": "x", "kind": "success"}}, T0, T0,
                                                  T0 + timedelta(hours=12)))
    for attacker_token in (planted, "made-up-" + uuid.uuid4().hex):
        client.cookies.clear()
        client.cookies.set(COOKIE, attacker_token, domain="testserver.local")
        sign_in_with_password(client, "alice@example.fr")
        after = client.cookies.get(COOKIE)
        assert after
        assert after != attacker_token
        assert whoami(client) == alice.id
        with TestClient(app) as attacker:
            assert whoami(attacker, attacker_token) is None
        assert store.load(token_hash(attacker_token)) is None  # the planted one is destroyed


@pytest.mark.usefixtures("cheap_hashing")
def test_signing_in_as_someone_else_rotates_too(app: FastAPI, client: TestClient, session: Session) -> None:
    make_resident(session, "alice@example.fr")
    bob = make_resident(session, "bob@example.fr", name="Bob Durand")
    sign_in_with_password(client, "alice@example.fr")
    alices = client.cookies[COOKIE]
    sign_in_with_password(client, "bob@example.fr")
    assert client.cookies[COOKIE] != alices
    assert whoami(client) == bob.id
    with TestClient(app) as other:
        assert whoami(other, alices) is None


# --- expiry and sign-out, with the sessions in the database and in Redis


@pytest.fixture(params=["database", "redis"])
def store_app(request: pytest.FixtureRequest, settings: Settings, session: Session) -> Iterator[FastAPI]:
    """The app with its sessions in the database, or in Redis (as several workers would share them)."""
    update: dict[str, Any] = {"session_idle_minutes": 30, "session_absolute_hours": 12}
    if request.param == "redis":
        redis_client().close()  # skips (fails in CI) without Redis
        update["redis_url"] = SECURITY_REDIS_URL
    app = create_app(settings.model_copy(update=update))
    use_session(app, session)
    app.state.clock = Clock(T0)
    yield app
    app.state.engine.dispose()


@pytest.mark.usefixtures("cheap_hashing")
def test_idle_expiry(store_app: FastAPI, session: Session) -> None:
    alice = make_resident(session, f"alice-{uuid.uuid4().hex[:8]}@example.fr")
    clock = store_app.state.clock
    with browser(store_app) as client:
        sign_in_with_password(client, alice.email or "")
        token = client.cookies[COOKIE]
        clock.advance(minutes=29, seconds=59)
        assert whoami(client) == alice.id  # activity: the idle time starts again
        clock.advance(minutes=29, seconds=59)
        assert whoami(client) == alice.id
        clock.advance(minutes=30)
        assert whoami(client) is None
        clock.advance(seconds=1)
        assert store_app.state.session_store.load(token_hash(token)) is None


@pytest.mark.usefixtures("cheap_hashing")
def test_absolute_expiry(store_app: FastAPI, session: Session) -> None:
    alice = make_resident(session, f"alice-{uuid.uuid4().hex[:8]}@example.fr")
    clock = store_app.state.clock
    with browser(store_app) as client:
        sign_in_with_password(client, alice.email or "")
        for _ in range(11 * 4):  # busy every quarter of an hour for 11 hours: never idle
            clock.advance(minutes=15)
            assert whoami(client) == alice.id
        for step in ({"minutes": 29}, {"minutes": 29}, {"minutes": 1, "seconds": 59}):
            clock.advance(**step)
            assert whoami(client) == alice.id  # 11 h 59 min 59 s after signing in
        clock.advance(seconds=1)  # twelve hours after signing in, however busy
        assert whoami(client) is None


@pytest.mark.usefixtures("cheap_hashing")
def test_sign_out_revokes_on_the_server(store_app: FastAPI, session: Session) -> None:
    alice = make_resident(session, f"alice-{uuid.uuid4().hex[:8]}@example.fr")
    with browser(store_app) as client, browser(store_app) as thief:
        sign_in_with_password(client, alice.email or "")
        stolen = client.cookies[COOKIE]
        assert whoami(thief, stolen) == alice.id
        response = client.post("/deconnexion", data={"csrf_token": csrf(client)}, follow_redirects=False)
        assert response.status_code == 303
        assert whoami(thief, stolen) is None  # the old cookie, replayed, is nobody
        assert store_app.state.session_store.load(token_hash(stolen)) is None
        assert store_app.state.session_store.list_for_user(alice.id) == []


# --- CSRF on every unsafe route


# The only unsafe route that takes no CSRF token, and why.
CSRF_EXEMPT = {
    ("POST", "/notifications/desabonnement/{token}"):
        "RFC 8058 one-click unsubscribe: the mail client posts without cookie; the signed token is the proof",
}


def unsafe_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted({
        (method, context.path) for context in iter_route_contexts(app.routes) if context.path
        for method in (context.methods or ()) if method not in SAFE_METHODS
    })


def fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), "1")
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, path)


def database_state(session: Session) -> dict[str, str]:
    """A digest of every row of every table: a refused request must change nothing at all."""
    session.expire_all()
    state = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = session.execute(select(table)).all()
        state[table.name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return state


@pytest.fixture
def victim(app: FastAPI, session: Session) -> Iterator[tuple[TestClient, User, dict[str, str]]]:
    """An admin signed in (so that every route would act for them), with what the paths need."""
    alice = make_resident(session, "alice@example.fr")
    from app.accounts import service as accounts
    accounts.grant_role(session, alice, Role.admin, now=T0)
    consultation = make_consultation(session, phase="voting")
    proposal = make_proposal(session, consultation, alice)
    session.commit()
    values = {"slug": consultation.slug, "consultation_id": str(consultation.id), "proposal_id": str(proposal.id),
              "user_id": str(alice.id), "path_type": "propositions", "target_type": "proposal",
              "target_id": str(proposal.id)}
    with TestClient(app) as client:
        sign_in_with_password(client, "alice@example.fr")
        csrf(client)  # the browser holds its CSRF cookie, as after any page with a form
        assert client.cookies.get(CSRF_COOKIE)
        yield client, alice, values


def assert_refused(response, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    where = f"{method} {path}: {response.status_code} {response.text[:200]}"
    assert response.status_code == 403, where
    if path.startswith("/api/"):
        assert response.headers["content-type"] == PROBLEM_JSON, where
        assert response.json()["detail"] == REFUSED, where
    else:
        assert REFUSED in response.text, where


@pytest.mark.usefixtures("cheap_hashing")
def test_every_unsafe_route_refuses_a_request_without_its_token(
        app: FastAPI, session: Session, victim: tuple[TestClient, User, dict[str, str]]) -> None:
    client, alice, values = victim
    routes = unsafe_routes(app)
    assert set(CSRF_EXEMPT) <= set(routes)
    assert len(routes) > 80
    token = csrf(client)
    before = database_state(session)
    for method, path in routes:
        if (method, path) in CSRF_EXEMPT:
            continue
        url = fill(path, values)
        body: dict[str, Any] = (
            {"json": {"title": "x"}} if path.startswith("/api/") else {"data": {"display_name": "x", "title": "x"}}
        )
        # No token at all; a wrong one; a good one sent from another site (the browser says so).
        assert_refused(client.request(method, url, follow_redirects=False, **body), method, path)
        if path.startswith("/api/"):
            wrong = client.request(method, url, headers={"X-CSRF-Token": "0" * 64}, follow_redirects=False, **body)
            cross = client.request(method, url, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
                                   follow_redirects=False, **body)
        else:
            wrong = client.request(method, url, data={**body["data"], "csrf_token": "0" * 64},
                                   follow_redirects=False)
            cross = client.request(method, url, data={**body["data"], "csrf_token": token},
                                   headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
        assert_refused(wrong, method, path)
        assert_refused(cross, method, path)
    after = database_state(session)
    assert [name for name in before if before[name] != after[name]] == [], "a refused request changed the database"
    assert whoami(client) == alice.id  # not even signed out


@pytest.mark.usefixtures("cheap_hashing")
def test_bearer_requests_are_not_csrf_checked(app: FastAPI, session: Session,
                                              victim: tuple[TestClient, User, dict[str, str]]) -> None:
    """A program's token carries no ambient authority: the API's unsafe routes take it without a
    CSRF token (they may refuse for other reasons, never for CSRF)."""
    _client, alice, values = victim
    authorization = bearer(session, alice)
    session.commit()
    with TestClient(app) as program:
        for method, path in unsafe_routes(app):
            if not path.startswith("/api/"):
                continue
            response = program.request(method, fill(path, values), headers=authorization, json={})
            assert response.status_code < 500, f"{method} {path}"
            detail = response.json().get("detail") if response.headers.get("content-type") == PROBLEM_JSON else None
            assert detail != REFUSED, f"{method} {path}"


def test_a_bogus_bearer_does_not_fall_back_on_the_cookie(
        app: FastAPI, session: Session, victim: tuple[TestClient, User, dict[str, str]]) -> None:
    """The API skips the CSRF check for a bearer token: a made-up one beside the session cookie
    must then be refused, never be taken for the cookie's person."""
    client, _alice, values = victim
    before = database_state(session)
    for method, path in unsafe_routes(app):
        if path.startswith("/api/"):
            response = client.request(method, fill(path, values), json={"title": "x"},
                                      headers={"Authorization": "Bearer cr_made_up"}, follow_redirects=False)
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
    after = database_state(session)
    assert [name for name in before if before[name] != after[name]] == []


def test_bearer_does_not_excuse_a_page_form(victim: tuple[TestClient, User, dict[str, str]], session: Session) -> None:
    """A made-up bearer header beside the session cookie does not skip the check on pages."""
    client, _alice, _values = victim
    response = client.post("/compte/profil", data={"display_name": "Pirate"},
                           headers={"Authorization": "Bearer nothing"}, follow_redirects=False)
    assert_refused(response, "POST", "/compte/profil")


# --- open redirects


HOSTILE_TARGETS = [
    "//evil.example", "//evil.example/", "///evil.example", "////evil.example", "https://evil.example",
    "http://evil.example/x", "https:evil.example", "https:/evil.example", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", " //evil.example",
    "\t//evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example",
    "%5C%5Cevil.example", "//evil.example@carreau.example", "/\u3000/evil.example", "\u2215\u2215evil.example",
    "/.//evil.example", "https://carreau.example.evil.example/",
]


def assert_local(location: str, payload: str) -> None:
    """What a browser would make of the Location: still this site. Browsers drop tabs and new
    lines, turn backslashes into slashes and trim leading spaces and control characters."""
    seen = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08 ")
    parts = urlsplit(seen)
    assert not parts.scheme, f"{payload!r} → {location!r}"
    assert not parts.netloc, f"{payload!r} → {location!r}"
    assert seen.startswith("/"), f"{payload!r} → {location!r}"
    assert not seen.startswith("//"), f"{payload!r} → {location!r}"


# Every route taking a redirect target, and how it is tried below.
REDIRECT_PARAMETERS = {
    ("GET", "/connexion", "next"), ("POST", "/connexion", "next"), ("GET", "/auth/{name}/login", "next"),
    ("GET", "/compte/bienvenue", "next"), ("POST", "/compte/bienvenue", "next"), ("GET", "/langue/{locale}", "next"),
    ("POST", "/gestion/moderation/{path_type}/{target_id}/masquer", "retour"),
    ("POST", "/gestion/moderation/{path_type}/{target_id}/retablir", "retour"),
}


def redirect_parameters(app: FastAPI) -> set[tuple[str, str, str]]:
    found = set()
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None or not context.path:
            continue
        params = [*dependant.query_params, *dependant.body_params]
        for param in params:
            alias = getattr(param, "alias", param.name)
            if alias in ("next", "retour", "return_to", "redirect", "url", "then", "continue"):
                found |= {(method, context.path, alias) for method in context.methods or ()}
    return found


def test_every_redirect_parameter_is_known(app: FastAPI) -> None:
    assert redirect_parameters(app) == REDIRECT_PARAMETERS


@pytest.mark.parametrize("payload", HOSTILE_TARGETS)
def test_redirect_checks_keep_to_local_paths(payload: str) -> None:
    assert_local(account_pages.safe_next(payload), payload)
    assert_local(site_pages._local_path(payload), payload)


@pytest.mark.usefixtures("cheap_hashing")
def test_next_never_leaves_the_site(app: FastAPI, session: Session) -> None:
    alice = make_resident(session, "alice@example.fr")
    newcomer = make_resident(session, "newcomer@example.fr", name="Nouvelle Venue")
    newcomer.terms_accepted_at = None
    session.add(newcomer)
    session.commit()
    assert newcomer.needs_onboarding
    with TestClient(app) as visitor, TestClient(app) as signed_in, TestClient(app) as onboarding:
        sign_in_with_password(signed_in, "alice@example.fr")
        sign_in_with_password(onboarding, "newcomer@example.fr")
        for payload in HOSTILE_TARGETS:
            # The language switch, for anyone.
            response = visitor.get("/langue/fr", params={"next": payload}, follow_redirects=False)
            assert response.status_code == 303
            assert_local(response.headers["location"], payload)
            # The sign-in page, already signed in: straight to `next`.
            response = signed_in.get("/connexion", params={"next": payload}, follow_redirects=False)
            assert response.status_code == 303
            assert_local(response.headers["location"], payload)
            # The sign-in page, as a visitor: `next` goes into the form, made local.
            page = visitor.get("/connexion", params={"next": payload}).text
            rendered = re.search(r'name="next" value="([^"]*)"', page)
            assert rendered is not None
            assert_local(rendered.group(1), payload)
            # Signing in with it.
            app.state.rate_limiter.reset()
            response = visitor.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD,
                                                        "next": payload, "csrf_token": csrf(visitor)},
                                    follow_redirects=False)
            assert response.status_code == 303
            assert_local(response.headers["location"], payload)
            assert whoami(visitor) == alice.id
            visitor.cookies.delete(COOKIE)
            # The onboarding form, then its answer.
            response = onboarding.get("/compte/bienvenue", params={"next": payload})
            rendered = re.search(r'name="next" value="([^"]*)"', response.text)
            assert rendered is not None
            assert_local(rendered.group(1), payload)
            response = onboarding.post("/compte/bienvenue", data={
                "next": payload, "commune": "62510", "birth_year": "", "accept_terms": "yes",
                "csrf_token": csrf(onboarding)}, follow_redirects=False)
            assert response.status_code == 303, response.text[:300]
            assert_local(response.headers["location"], payload)


def test_moderation_return_is_a_proposal_page_only(app: FastAPI, session: Session,
                                                   victim: tuple[TestClient, User, dict[str, str]]) -> None:
    client, _alice, values = victim
    for verb in ("masquer", "retablir"):
        for payload in [*HOSTILE_TARGETS, "/propositions/1//evil.example", "/propositions/1@evil.example"]:
            response = client.post(f"/gestion/moderation/propositions/{values['proposal_id']}/{verb}",
                                   data={"retour": payload[:60], "reason": "Hors sujet", "motif": "Hors sujet",
                                         "csrf_token": csrf(client)}, follow_redirects=False)
            assert response.status_code in (303, 422), response.text[:300]
            if response.status_code == 303:
                assert_local(response.headers["location"], payload)


# --- user enumeration


def _page_without(text: str, *words: str) -> str:
    """The page as a comparison sees it: the CSRF token and what was typed taken out."""
    text = re.sub(r'name="csrf_token" value="[^"]+"', "", text)
    text = re.sub(r'"X-CSRF-Token": "[^"]+"', "", text)
    for word in words:
        text = text.replace(word, "…")
    return text


class ResponseTimer:
    """The app, timed from the request to the last byte of its answer: what the person (or the
    attacker) waits for. Work left for after the answer (background tasks) is not in it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()

        async def timed(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - start

        await self.app(scope, receive, timed)


def _timed(timer: ResponseTimer, call: Any) -> tuple[float, Any]:
    response = call()
    return timer.last, response


def _similar_timing(known: list[float], unknown: list[float]) -> None:
    """Generous: the medians within a factor 2 plus 40 ms. An account check that skips the
    password hash (~85 ms of Argon2) for one of the two cases fails it."""
    a, b = statistics.median(known), statistics.median(unknown)
    assert max(a, b) <= 2 * min(a, b) + 0.040, f"known {a * 1000:.0f} ms, unknown {b * 1000:.0f} ms"


RUNS = 5


def test_sign_in_says_and_takes_the_same_for_known_and_unknown_addresses(app: FastAPI, session: Session) -> None:
    make_resident(session, "known@example.fr")  # real Argon2 cost here: timing is the point
    timer = ResponseTimer(app)
    with TestClient(timer) as client:
        token = csrf(client)
        times: dict[str, list[float]] = {"known@example.fr": [], "unknown@example.fr": []}
        pages = {}
        for _ in range(RUNS):
            for email in times:
                app.state.rate_limiter.reset()
                elapsed, response = _timed(timer, lambda email=email: client.post("/connexion", data={
                    "email": email, "password": "pas le bon mot de passe", "csrf_token": token}))
                times[email].append(elapsed)
                pages[email] = (response.status_code, _page_without(response.text, email))
    assert pages["known@example.fr"] == pages["unknown@example.fr"]
    _similar_timing(times["known@example.fr"], times["unknown@example.fr"])


def test_sign_up_says_and_takes_the_same_for_taken_and_free_addresses(app: FastAPI, session: Session) -> None:
    make_resident(session, "taken@example.fr")
    timer = ResponseTimer(app)
    known: list[float] = []
    unknown: list[float] = []
    pages: dict[str, set[tuple[int, str]]] = {"taken": set(), "free": set()}
    with TestClient(timer) as client:
        token = csrf(client)
        for n in range(RUNS):
            for kind, email, times in (("taken", "taken@example.fr", known),
                                       ("free", f"libre{n}@example.fr", unknown)):
                app.state.rate_limiter.reset()
                elapsed, response = _timed(timer, lambda email=email: client.post("/inscription", data={
                    "email": email, "display_name": "Quelqu’un", "password": PASSWORD, "csrf_token": token}))
                times.append(elapsed)
                pages[kind].add((response.status_code, _page_without(response.text, email)))
    assert pages["taken"] == pages["free"]
    assert len(pages["taken"]) == 1
    _similar_timing(known, unknown)


def test_password_reset_says_and_takes_the_same_for_known_and_unknown_addresses(
        session: Session, smtp_server: Any, settings: Settings) -> None:
    """With a real mail server: sending the mail must not make the answer slower for a known address."""
    mailing = create_app(settings.model_copy(update=smtp_server.settings))
    use_session(mailing, session)
    make_resident(session, "known@example.fr")
    timer = ResponseTimer(mailing)
    try:
        with TestClient(timer) as browser:
            token = csrf(browser)
            times: dict[str, list[float]] = {"known@example.fr": [], "unknown@example.fr": []}
            pages = {}
            for _ in range(RUNS):
                for email in times:
                    mailing.state.rate_limiter.reset()
                    elapsed, response = _timed(timer, lambda email=email: browser.post("/mot-de-passe-oublie", data={
                        "email": email, "csrf_token": token}))
                    times[email].append(elapsed)
                    pages[email] = (response.status_code, _page_without(response.text, email))
            assert pages["known@example.fr"] == pages["unknown@example.fr"]
            _similar_timing(times["known@example.fr"], times["unknown@example.fr"])
            assert len(smtp_server.messages) == RUNS  # the known address did get its mails
    finally:
        mailing.state.engine.dispose()


# --- rate limits across workers (Redis)


@pytest.fixture
def workers(settings: Settings, session: Session) -> Iterator[list[FastAPI]]:
    """Two instances of the app sharing Redis, as two worker processes would."""
    redis_client().close()
    apps = [create_app(settings.model_copy(update={"redis_url": SECURITY_REDIS_URL})) for _ in range(2)]
    for app in apps:
        use_session(app, session)
    yield apps
    for app in apps:
        app.state.engine.dispose()


def _forget(word: str) -> None:
    import redis

    client = redis.Redis.from_url(SECURITY_REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{word}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.usefixtures("cheap_hashing")
def test_sign_in_limit_is_global_not_per_worker(workers: list[FastAPI], session: Session) -> None:
    email = f"cible-{uuid.uuid4().hex[:10]}@example.fr"
    make_resident(session, email)
    limit = int(account_pages.SIGN_IN_RATE_PER_ACCOUNT.split("/")[0])
    try:
        with browser(workers[0]) as first, browser(workers[1]) as second:
            tokens = {id(first): csrf(first), id(second): csrf(second)}
            statuses = []
            for n in range(limit + 3):
                sender = (first, second)[n % 2]
                response = sender.post("/connexion", data={"email": email, "password": "mauvais",
                                                           "csrf_token": tokens[id(sender)]})
                statuses.append(response.status_code)
            assert 429 not in statuses[:limit], statuses
            assert statuses[limit:] == [429] * 3, statuses
            refused = second.post("/connexion", data={"email": email, "password": PASSWORD,
                                                      "csrf_token": tokens[id(second)]}, follow_redirects=False)
            assert refused.status_code == 429  # even with the right password, until the window passes
            assert int(refused.headers["retry-after"]) >= 1
    finally:
        _forget(email)


def test_limit_holds_under_parallel_hits_from_two_workers() -> None:
    redis_client().close()
    word = f"parallel-{uuid.uuid4().hex}"
    limiters = [RateLimiter(SECURITY_REDIS_URL), RateLimiter(SECURITY_REDIS_URL)]
    passed: list[int] = []
    barrier = threading.Barrier(20)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            limiters[n % 2].hit("5/minute", "sign-in", word)
            passed.append(n)
        except TooManyRequests:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(passed) == 5
    finally:
        _forget(word)


@pytest.mark.usefixtures("cheap_hashing")
def test_sessions_are_shared_and_revoked_across_workers(workers: list[FastAPI], session: Session) -> None:
    alice = make_resident(session, f"alice-{uuid.uuid4().hex[:8]}@example.fr")
    with browser(workers[0]) as first, browser(workers[1]) as second:
        sign_in_with_password(first, alice.email or "")
        token = first.cookies[COOKIE]
        assert whoami(second, token) == alice.id  # the other worker knows the session
        second.cookies.set(COOKIE, token, domain="testserver.local")
        second.post("/deconnexion", data={"csrf_token": csrf(second)}, follow_redirects=False)
        assert whoami(first) is None  # signed out on one worker: out on all
