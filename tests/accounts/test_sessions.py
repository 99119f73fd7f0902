"""Server-side sessions: the two stores share one contract; the middleware, seen through the app,
hands out a random token only, rotates it at sign-in, expires it and revokes it."""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service
from app.accounts.models import User, UserSession
from app.accounts.sessions import DatabaseSessionStore, RedisSessionStore, SessionStore, StoredSession, token_hash
from app.core.settings import Settings
from app.main import create_app
from tests.participation import csrf
from tests.support import (
    PASSWORD,
    T0,
    cheap_password_hashing,
    make_resident,
    redis_client,
    sign_in_with_password,
    use_session,
)

IDLE = timedelta(minutes=30)
NEW_PASSWORD = "une autre phrase, plus longue encore"
COOKIE = "carreau_session"
HOST_COOKIE = "__Host-carreau_session"
HTTPS_BASE = "https://carreau.example"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~85 ms a hash; these tests are about sessions, not hashing."""
    cheap_password_hashing(monkeypatch)


# --- the stores' contract


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, session: Session) -> Iterator[SessionStore]:
    if request.param == "database":
        yield DatabaseSessionStore(lambda **_options: nullcontext(session))
        return
    client = redis_client()
    prefix = f"carreau-test:{uuid.uuid4().hex}:"
    try:
        yield RedisSessionStore(client, idle=IDLE, prefix=prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _user(session: Session, name: str) -> int:
    user = service.create_user(session, display_name=name, now=T0)
    session.commit()
    assert user.id is not None
    return user.id


def _stored(user_id: int | None, *, minutes: int = 0, **data: object) -> StoredSession:
    seen = T0 + timedelta(minutes=minutes)
    return StoredSession(user_id, dict(data), T0, seen, T0 + timedelta(hours=12), "Firefox")


def _key() -> str:
    return token_hash(uuid.uuid4().hex)


def _summary(listed: list[tuple[str, StoredSession]]) -> list[tuple[str, int | None, datetime]]:
    return [(key, stored.user_id, stored.last_seen_at) for key, stored in listed]


def test_save_then_load(store: SessionStore, session: Session) -> None:
    alice = _user(session, "Alice")
    key = _key()
    assert store.load(key) is None
    stored = _stored(alice, name="Alice", flash={"message": "Bonjour", "kind": "success"})
    store.save(key, stored)
    assert store.load(key) == stored
    anonymous = _stored(None, after_sign_in="/axes/mobilite")
    other = _key()
    store.save(other, anonymous)
    assert store.load(other) == anonymous
    assert store.load(_key()) is None


def test_save_again_replaces(store: SessionStore, session: Session) -> None:
    alice = _user(session, "Alice")
    key = _key()
    store.save(key, _stored(alice, name="Alice", flash="Bonjour"))
    updated = _stored(alice, minutes=5, name="Alice M.")
    store.save(key, updated)
    assert store.load(key) == updated


def test_touch_moves_last_seen_only(store: SessionStore, session: Session) -> None:
    alice = _user(session, "Alice")
    key = _key()
    stored = _stored(alice, name="Alice")
    store.save(key, stored)
    store.touch(key, T0 + timedelta(minutes=7))
    assert store.load(key) == replace(stored, last_seen_at=T0 + timedelta(minutes=7))
    store.touch(_key(), T0)  # an unknown session: nothing to do, no error
    assert store.load(key) == replace(stored, last_seen_at=T0 + timedelta(minutes=7))


def test_delete(store: SessionStore, session: Session) -> None:
    alice = _user(session, "Alice")
    key, kept = _key(), _key()
    store.save(key, _stored(alice))
    store.save(kept, _stored(alice))
    store.delete(key)
    assert store.load(key) is None
    assert store.load(kept) is not None
    assert _summary(store.list_for_user(alice)) == [(kept, alice, T0)]
    store.delete(key)  # twice: no error
    store.delete(_key())


def test_list_for_user(store: SessionStore, session: Session) -> None:
    alice, bob = _user(session, "Alice"), _user(session, "Bob")
    older, newer, bobs, anonymous = _key(), _key(), _key(), _key()
    store.save(older, _stored(alice, minutes=1))
    store.save(newer, _stored(alice, minutes=9))
    store.save(bobs, _stored(bob, minutes=5))
    store.save(anonymous, _stored(None))
    # Most recently seen first; only the person's own sessions.
    assert _summary(store.list_for_user(alice)) == [
        (newer, alice, T0 + timedelta(minutes=9)), (older, alice, T0 + timedelta(minutes=1)),
    ]
    listed = dict(store.list_for_user(alice))
    assert listed[newer].created_at == T0
    assert listed[newer].expires_at == T0 + timedelta(hours=12)
    assert listed[newer].user_agent == "Firefox"
    assert _summary(store.list_for_user(bob)) == [(bobs, bob, T0 + timedelta(minutes=5))]
    assert store.list_for_user(_user(session, "Chloé")) == []


def test_delete_for_user_keeps_one_and_spares_others(store: SessionStore, session: Session) -> None:
    alice, bob = _user(session, "Alice"), _user(session, "Bob")
    current, other1, other2, bobs, anonymous = _key(), _key(), _key(), _key(), _key()
    for key in (current, other1, other2):
        store.save(key, _stored(alice))
    store.save(bobs, _stored(bob))
    store.save(anonymous, _stored(None, flash="x"))

    assert store.delete_for_user(alice, keep=current) == 2
    assert store.load(other1) is None
    assert store.load(other2) is None
    assert store.load(current) is not None
    assert _summary(store.list_for_user(alice)) == [(current, alice, T0)]
    assert store.load(bobs) is not None
    assert store.load(anonymous) is not None

    assert store.delete_for_user(alice) == 1
    assert store.load(current) is None
    assert store.list_for_user(alice) == []
    assert store.delete_for_user(alice) == 0
    assert store.load(bobs) is not None


def test_database_store_joins_the_callers_transaction(session: Session) -> None:
    """With `within`, the sessions go (or stay) with the change that requires it."""
    store = DatabaseSessionStore(lambda **_options: nullcontext(session))
    alice = _user(session, "Alice")
    key = _key()
    store.save(key, _stored(alice))
    with session.begin_nested() as savepoint:
        assert store.delete_for_user(alice, within=session) == 1
        assert session.get(UserSession, key) is None
        savepoint.rollback()
    session.expire_all()
    assert store.load(key) is not None


def test_redis_sessions_expire_by_themselves() -> None:
    client = redis_client()
    prefix = f"carreau-test:{uuid.uuid4().hex}:"
    store = RedisSessionStore(client, idle=IDLE, prefix=prefix)
    try:
        key = _key()
        store.save(key, _stored(1))
        ttl = client.ttl(f"{prefix}session:{key}")
        assert 0 < ttl <= IDLE.total_seconds() + 60
        # Close to the absolute end, the time left wins over the idle time.
        late = StoredSession(1, {}, T0, T0 + timedelta(hours=11, minutes=55), T0 + timedelta(hours=12))
        store.save(key, late)
        assert 0 < client.ttl(f"{prefix}session:{key}") <= 5 * 60 + 60
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# --- through the app


class Clock:
    """app.state.clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def whoami(client: TestClient, cookie: tuple[str, str] | None = None) -> int | None:
    """The id of the person the session stands for, or None for a visitor. With `cookie`, only
    that cookie is sent (a replayed, stolen or planted session cookie)."""
    headers = {"Cookie": f"{cookie[0]}={cookie[1]}"} if cookie else None
    response = client.get("/api/v1/me", headers=headers)
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.text
    return response.json()["id"]


def post(client: TestClient, path: str, **data: str) -> int:
    response = client.post(path, data={**data, "csrf_token": csrf(client)}, follow_redirects=False)
    return response.status_code


def session_rows(session: Session, user_id: int) -> list[UserSession]:
    session.expire_all()
    return list(session.exec(select(UserSession).where(UserSession.user_id == user_id)))


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    clock = Clock(T0)
    app.state.clock = clock
    return clock


@pytest.fixture
def https_app(settings: Settings, session: Session) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"base_url": HTTPS_BASE}))
    use_session(app, session)
    app.state.clock = Clock(T0)
    yield app
    app.state.engine.dispose()


def _set_cookie(response_headers: list[str], name: str) -> tuple[str, set[str]]:
    """The value and the attributes (lower-cased) of the Set-Cookie header for `name`."""
    [header] = [h for h in response_headers if h.startswith(f"{name}=")]
    value, *attributes = (part.strip() for part in header.split(";"))
    return value.split("=", 1)[1], {a.lower() for a in attributes}


def test_https_cookie_is_a_random_token_with_every_protection(https_app: FastAPI, session: Session) -> None:
    alice = make_resident(session, "alice@example.fr")
    with TestClient(https_app, base_url="https://testserver") as client:
        response = client.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD,
                                                   "csrf_token": csrf(client)}, follow_redirects=False)
        assert response.status_code == 303
        token, attributes = _set_cookie(response.headers.get_list("set-cookie"), HOST_COOKIE)
        assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes
        assert not any(a.startswith(("domain", "expires", "max-age")) for a in attributes)
        assert COOKIE not in client.cookies  # only the __Host- name
        assert whoami(client) == alice.id

    assert len(token) >= 40
    assert token != str(alice.id)
    # The database knows the token only by its hash, which maps to the person.
    [row] = session_rows(session, alice.id)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert session.get(UserSession, token) is None
    assert row.user_agent  # shown on the account page


def test_http_cookie_has_no_secure_flag(app: FastAPI, client: TestClient, session: Session) -> None:
    make_resident(session, "alice@example.fr")
    response = client.post("/connexion", data={"email": "alice@example.fr", "password": PASSWORD,
                                               "csrf_token": csrf(client)}, follow_redirects=False)
    _token, attributes = _set_cookie(response.headers.get_list("set-cookie"), COOKIE)
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes


def test_visitors_get_no_session_cookie(client: TestClient) -> None:
    for path in ("/", "/connexion", "/territoire", "/api/v1/me"):
        client.get(path)
    assert COOKIE not in client.cookies


def test_made_up_cookie_is_ignored(app: FastAPI, client: TestClient, session: Session) -> None:
    alice = make_resident(session, "alice@example.fr")
    assert alice.id is not None
    assert whoami(client, (COOKIE, str(alice.id))) is None
    assert whoami(client, (COOKIE, "x" * 43)) is None


def test_sign_in_rotates_the_token(https_app: FastAPI, session: Session) -> None:
    """Session fixation: a token held (or planted) before sign-in is worth nothing after it."""
    alice = make_resident(session, "alice@example.fr")
    with TestClient(https_app, base_url="https://testserver") as client:
        # An anonymous session, holding a message for the visitor.
        assert post(client, "/deconnexion") == 303
        before = client.cookies[HOST_COOKIE]
        assert session.get(UserSession, token_hash(before)) is not None

        sign_in_with_password(client, "alice@example.fr")
        after = client.cookies[HOST_COOKIE]
        assert after != before
        assert whoami(client) == alice.id
        session.expire_all()
        assert session.get(UserSession, token_hash(before)) is None

    with TestClient(https_app, base_url="https://testserver") as attacker:
        assert whoami(attacker, (HOST_COOKIE, before)) is None
        assert whoami(attacker, (HOST_COOKIE, after)) == alice.id  # the new token is the key


def test_sign_out_revokes_the_session_on_the_server(app: FastAPI, client: TestClient, session: Session) -> None:
    alice = make_resident(session, "alice@example.fr")
    sign_in_with_password(client, "alice@example.fr")
    token = client.cookies[COOKIE]
    assert post(client, "/deconnexion") == 303
    assert whoami(client) is None
    with TestClient(app) as thief:  # replays the cookie captured before the sign-out
        assert whoami(thief, (COOKIE, token)) is None
    assert session_rows(session, alice.id) == []


def test_idle_timeout(app: FastAPI, client: TestClient, session: Session, clock: Clock) -> None:
    alice = make_resident(session, "alice@example.fr")
    sign_in_with_password(client, "alice@example.fr")
    clock.advance(minutes=29)
    assert whoami(client) == alice.id  # each request counts as activity
    clock.advance(minutes=29)
    assert whoami(client) == alice.id
    clock.advance(minutes=app.state.settings.session_idle_minutes, seconds=1)
    assert whoami(client) is None
    assert session_rows(session, alice.id) == []  # and it is gone from the store


def test_absolute_timeout(settings: Settings, session: Session) -> None:
    app = create_app(settings.model_copy(update={"session_absolute_hours": 1, "session_idle_minutes": 30}))
    use_session(app, session)
    clock = app.state.clock = Clock(T0)
    alice = make_resident(session, "alice@example.fr")
    try:
        with TestClient(app) as client:
            sign_in_with_password(client, "alice@example.fr")
            for _ in range(5):  # busy all along: never idle
                clock.advance(minutes=11)
                assert whoami(client) == alice.id
            clock.advance(minutes=5)  # 60 minutes since the sign-in
            assert whoami(client) is None
            sign_in_with_password(client, "alice@example.fr")  # signing in again starts a new hour
            assert whoami(client) == alice.id
    finally:
        app.state.engine.dispose()


def _signed_in_clients(app: FastAPI, email: str, count: int) -> list[TestClient]:
    clients = [TestClient(app) for _ in range(count)]
    for client in clients:
        client.__enter__()
        sign_in_with_password(client, email)
    return clients


@pytest.fixture
def browsers(app: FastAPI, session: Session) -> Iterator[tuple[User, list[TestClient], TestClient]]:
    """Alice signed in on two browsers, Bob on a third."""
    alice = make_resident(session, "alice@example.fr")
    make_resident(session, "bob@example.fr", name="Bob Durand")
    clients = _signed_in_clients(app, "alice@example.fr", 2) + _signed_in_clients(app, "bob@example.fr", 1)
    try:
        yield alice, clients[:2], clients[2]
    finally:
        for client in clients:
            client.__exit__(None, None, None)


def test_sign_out_everywhere(browsers: tuple[User, list[TestClient], TestClient], session: Session) -> None:
    alice, (laptop, phone), bob = browsers
    bob_id = whoami(bob)
    assert whoami(phone) == alice.id
    assert post(laptop, "/compte/sessions/fermer") == 303
    assert whoami(laptop) is None  # "y compris ici"
    assert whoami(phone) is None
    assert session_rows(session, alice.id) == []
    assert whoami(bob) == bob_id


def test_password_change_keeps_this_session_only(browsers: tuple[User, list[TestClient], TestClient],
                                                 session: Session) -> None:
    alice, (laptop, phone), bob = browsers
    bob_id = whoami(bob)
    status = post(laptop, "/compte/mot-de-passe", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert status == 303
    assert whoami(laptop) == alice.id
    assert whoami(phone) is None
    [row] = session_rows(session, alice.id)
    assert row.token_hash == token_hash(laptop.cookies[COOKIE])
    assert whoami(bob) == bob_id


def test_refused_password_change_closes_nothing(browsers: tuple[User, list[TestClient], TestClient]) -> None:
    alice, (laptop, phone), _bob = browsers
    status = post(laptop, "/compte/mot-de-passe", current_password="pas le bon mot de passe",
                  new_password=NEW_PASSWORD)
    assert status == 422
    assert whoami(laptop) == alice.id
    assert whoami(phone) == alice.id


def test_password_reset_closes_every_session(app: FastAPI, browsers: tuple[User, list[TestClient], TestClient],
                                             session: Session) -> None:
    alice, (laptop, phone), bob = browsers
    bob_id = whoami(bob)
    # The link is made "now" on the app's clock: it lasts an hour (a fixed instant would expire).
    found = service.request_password_reset(session, email="alice@example.fr", now=app.state.clock())
    assert found is not None
    session.commit()
    with TestClient(app) as elsewhere:
        assert post(elsewhere, "/mot-de-passe/nouveau", jeton=found[1], password=NEW_PASSWORD) == 303
        assert whoami(elsewhere) is None  # a reset does not sign in
    assert whoami(laptop) is None
    assert whoami(phone) is None
    assert session_rows(session, alice.id) == []
    assert whoami(bob) == bob_id


def test_erasure_closes_every_session(browsers: tuple[User, list[TestClient], TestClient], session: Session) -> None:
    alice, (laptop, phone), bob = browsers
    bob_id = whoami(bob)
    assert post(laptop, "/compte/supprimer", confirmation="SUPPRIMER") == 303
    assert whoami(laptop) is None
    assert whoami(phone) is None
    assert session_rows(session, alice.id) == []
    assert whoami(bob) == bob_id


def test_account_page_lists_open_sessions(browsers: tuple[User, list[TestClient], TestClient],
                                          session: Session) -> None:
    alice, (laptop, _phone), _bob = browsers
    assert len(session_rows(session, alice.id)) == 2
    response = laptop.get("/compte")
    assert response.status_code == 200
    sessions_table = response.text.split('id="sessions-title"', 1)[1].split("</table>", 1)[0]
    assert sessions_table.count('<th scope="row">testclient') == 2  # the user agent of each browser
    assert sessions_table.count("cette session") == 1


def test_session_revoked_during_one_of_its_requests_stays_revoked(
    app: FastAPI, browsers: tuple[User, list[TestClient], TestClient], session: Session,
) -> None:
    """The phone's request has loaded its session when the laptop signs out everywhere; the
    phone's answer then stores a message in its session (as many pages do)."""
    alice, (_laptop, phone), _bob = browsers

    @app.get("/test/revoked-meanwhile")
    def _revoked_meanwhile(request: Request) -> dict[str, bool]:
        app.state.session_store.delete_for_user(alice.id)  # the laptop, at the same moment
        request.session["flash"] = {"message": "Enregistré.", "kind": "success"}
        return {"ok": True}

    assert phone.get("/test/revoked-meanwhile").status_code == 200
    assert session_rows(session, alice.id) == []
    assert whoami(phone) is None
