"""Rate limits: the limiter itself (memory and Redis), then sign-in, sign-up, password reset and
access tokens through the app, each answering 429 with Retry-After past its limit."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import deps, service
from app.accounts import routes as pages
from app.accounts.models import User
from app.core.errors import PROBLEM_JSON
from app.core.ratelimit import MemoryWindows, RateLimiter, TooManyRequests
from app.core.settings import Settings
from app.main import create_app
from tests.participation import csrf
from tests.support import (
    PASSWORD,
    REDIS_URL,
    T0,
    assert_page,
    cheap_password_hashing,
    make_resident,
    redis_client,
    use_session,
)

TOO_MANY = "Trop de tentatives en peu de temps. Patientez un moment avant de réessayer."
ELSEWHERE = ("203.0.113.7", 50000)  # another client address


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~85 ms a hash; these tests are about counting attempts."""
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def redis_keys() -> Iterator[str]:
    """A unique word to put in rate-limit identifiers; the Redis keys holding it are deleted after."""
    client = redis_client()
    word = uuid.uuid4().hex
    try:
        yield word
    finally:
        keys = list(client.scan_iter(match=f"*{word}*"))
        if keys:
            client.delete(*keys)
        client.close()


def retry_after(headers: dict[str, str], *, at_most: int) -> int:
    value = int(headers["Retry-After"])
    assert 1 <= value <= at_most
    return value


# --- the limiter


@pytest.fixture(params=["memory", "redis"])
def limiter_and_word(request: pytest.FixtureRequest) -> Iterator[tuple[RateLimiter, str]]:
    if request.param == "memory":
        yield RateLimiter(), uuid.uuid4().hex
        return
    word = request.getfixturevalue("redis_keys")
    yield RateLimiter(REDIS_URL), word


def test_limiter_allows_the_rate_then_refuses(limiter_and_word: tuple[RateLimiter, str]) -> None:
    limiter, word = limiter_and_word
    for _ in range(3):
        limiter.hit("3/minute", "sign-in", word)
    with pytest.raises(TooManyRequests) as refused:
        limiter.hit("3/minute", "sign-in", word)
    assert refused.value.status_code == 429
    assert refused.value.message == TOO_MANY
    retry_after(refused.value.headers or {}, at_most=61)
    with pytest.raises(TooManyRequests):  # and it stays refused
        limiter.hit("3/minute", "sign-in", word)
    # Other identifiers, other kinds of attempt: their own counters.
    limiter.hit("3/minute", "sign-in", word + "-other")
    limiter.hit("3/minute", "reset", word)


def test_memory_limiter_reset() -> None:
    limiter = RateLimiter()
    limiter.hit("1/hour", "x")
    with pytest.raises(TooManyRequests) as refused:
        limiter.hit("1/hour", "x")
    assert retry_after(refused.value.headers or {}, at_most=3601) > 3500
    limiter.reset()
    limiter.hit("1/hour", "x")


def test_memory_windows_move_and_forget_idle_keys() -> None:
    now = [1000.0]
    windows = MemoryWindows(clock=lambda: now[0])
    assert windows.hit("a", 2, 60) is None
    now[0] += 30
    assert windows.hit("a", 2, 60) is None
    assert windows.hit("a", 2, 60) == pytest.approx(30)  # the first hit leaves the window in 30 s
    now[0] += 30
    assert windows.hit("a", 2, 60) is None  # it has left: one more goes through
    windows.hit("b", 5, 10)
    now[0] += 61  # past a sweep: both keys idle beyond their windows, so forgotten
    windows.hit("c", 5, 10)
    assert set(windows.keys) == {"c"}


# --- through the app


def post(client: TestClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={**data, "csrf_token": csrf(client)}, follow_redirects=False)


def assert_too_many_page(response, *, at_most: int) -> None:  # type: ignore[no-untyped-def]
    assert TOO_MANY in assert_page(response, 429)
    retry_after(response.headers, at_most=at_most)


def test_sign_in_per_account(app: FastAPI, client: TestClient, session: Session) -> None:
    make_resident(session, "alice@example.fr")
    make_resident(session, "bob@example.fr")
    for _ in range(5):  # SIGN_IN_RATE_PER_ACCOUNT
        assert post(client, "/connexion", email="alice@example.fr", password="pas le bon mot de passe").status_code \
            == 400
    assert_too_many_page(post(client, "/connexion", email="alice@example.fr", password="encore faux ?"),
                         at_most=61)
    # Even the right password waits now, and from anywhere: the account is what is protected.
    assert_too_many_page(post(client, "/connexion", email="ALICE@example.fr ", password=PASSWORD), at_most=61)
    with TestClient(app, client=ELSEWHERE) as elsewhere:
        assert_too_many_page(post(elsewhere, "/connexion", email="alice@example.fr", password=PASSWORD), at_most=61)
    # Other accounts are not held back, even from this address.
    assert post(client, "/connexion", email="bob@example.fr", password=PASSWORD).status_code == 303


def test_sign_in_per_address(app: FastAPI, client: TestClient, session: Session) -> None:
    make_resident(session, "alice@example.fr")
    for n in range(20):  # SIGN_IN_RATE_PER_ADDRESS, each on a different address
        assert post(client, "/connexion", email=f"essai{n}@example.fr", password="au hasard 123").status_code == 400
    assert_too_many_page(post(client, "/connexion", email="alice@example.fr", password=PASSWORD), at_most=61)
    with TestClient(app, client=ELSEWHERE) as elsewhere:  # another address is still welcome
        assert post(elsewhere, "/connexion", email="alice@example.fr", password=PASSWORD).status_code == 303


def test_configured_rates() -> None:
    assert pages.SIGN_IN_RATE_PER_ACCOUNT == "5/minute"
    assert pages.SIGN_IN_RATE_PER_ADDRESS == "20/minute"
    assert pages.SIGN_UP_RATE == "10/hour"
    assert pages.RESET_RATE_PER_ACCOUNT == "3/hour"
    assert pages.RESET_RATE_PER_ADDRESS == "10/hour"
    assert deps.TOKEN_RATE == "300/minute"


def test_sign_up(app: FastAPI, client: TestClient) -> None:
    for n in range(10):  # SIGN_UP_RATE, per address; refused forms count too
        assert post(client, "/inscription", email=f"n{n}@example.fr", display_name="Nouveau",
                    password="court").status_code == 422
    response = post(client, "/inscription", email="dernier@example.fr", display_name="Dernier", password=PASSWORD)
    assert_too_many_page(response, at_most=3601)
    with TestClient(app, client=ELSEWHERE) as elsewhere:
        response = post(elsewhere, "/inscription", email="dernier@example.fr", display_name="Dernier",
                        password=PASSWORD)
        assert response.status_code == 200  # "check your mail"


def test_password_reset_per_account(app: FastAPI, client: TestClient, session: Session) -> None:
    make_resident(session, "alice@example.fr")
    for _ in range(3):  # RESET_RATE_PER_ACCOUNT
        assert post(client, "/mot-de-passe-oublie", email="alice@example.fr").status_code == 200
    assert_too_many_page(post(client, "/mot-de-passe-oublie", email="alice@example.fr"), at_most=3601)
    with TestClient(app, client=ELSEWHERE) as elsewhere:
        assert_too_many_page(post(elsewhere, "/mot-de-passe-oublie", email="Alice@Example.fr"), at_most=3601)
    assert post(client, "/mot-de-passe-oublie", email="bob@example.fr").status_code == 200


def test_password_reset_per_address(app: FastAPI, client: TestClient) -> None:
    for n in range(10):  # RESET_RATE_PER_ADDRESS
        assert post(client, "/mot-de-passe-oublie", email=f"n{n}@example.fr").status_code == 200
    assert_too_many_page(post(client, "/mot-de-passe-oublie", email="autre@example.fr"), at_most=3601)
    with TestClient(app, client=ELSEWHERE) as elsewhere:
        assert post(elsewhere, "/mot-de-passe-oublie", email="autre@example.fr").status_code == 200


def _token(session: Session, user: User) -> dict[str, str]:
    _stored, raw = service.create_access_token(session, user, name="script", now=T0)
    session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _assert_too_many_problem(response, *, at_most: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == TOO_MANY
    retry_after(response.headers, at_most=at_most)


def test_access_token_use(monkeypatch: pytest.MonkeyPatch, client: TestClient, session: Session) -> None:
    monkeypatch.setattr(deps, "TOKEN_RATE", "3/minute")
    alice = make_resident(session, "alice@example.fr")
    token, other_token = _token(session, alice), _token(session, alice)
    for _ in range(3):
        assert client.get("/api/v1/me", headers=token).status_code == 200
    _assert_too_many_problem(client.get("/api/v1/me", headers=token), at_most=61)
    _assert_too_many_problem(client.delete("/api/v1/me", headers=token), at_most=61)
    assert client.get("/api/v1/me", headers=other_token).status_code == 200  # counted per token
    session.expire_all()
    assert not session.get(User, alice.id).is_erased  # type: ignore[union-attr]


def test_access_token_limit_is_shared_through_redis(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                                    session: Session) -> None:
    """Two workers (two apps) with CARREAU_REDIS_URL count the same attempts."""
    client = redis_client()
    monkeypatch.setattr(deps, "TOKEN_RATE", "3/minute")
    alice = make_resident(session, "alice@example.fr")
    token = _token(session, alice)
    counter = service.digest(token["Authorization"].removeprefix("Bearer "))[:16]  # in the limiter's key
    workers = [create_app(settings.model_copy(update={"redis_url": REDIS_URL})) for _ in range(2)]
    try:
        for worker in workers:
            use_session(worker, session)
        with TestClient(workers[0]) as first, TestClient(workers[1]) as second:
            assert first.get("/api/v1/me", headers=token).status_code == 200
            assert second.get("/api/v1/me", headers=token).status_code == 200
            assert first.get("/api/v1/me", headers=token).status_code == 200
            _assert_too_many_problem(second.get("/api/v1/me", headers=token), at_most=61)
    finally:
        for worker in workers:
            worker.state.engine.dispose()
        keys = list(client.scan_iter(match=f"*{counter}*"))
        if keys:
            client.delete(*keys)
        client.close()
