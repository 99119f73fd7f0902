"""The public page cache: visitors who are not signed in share pages for a few seconds; nothing
personal is ever stored or served from it."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.pagecache import PageCacheMiddleware
from app.core.settings import Settings
from app.main import create_app
from tests.factories import make_consultation, make_proposal, make_user
from tests.participation import sign_in
from tests.support import use_session


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached_app(settings: Settings, session: Session, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"page_cache_seconds": 5}))
    use_session(app, session)
    with TestClient(app):
        pass  # builds the middleware stack
    layer = app.middleware_stack
    while not isinstance(layer, PageCacheMiddleware):
        layer = layer.app  # type: ignore[union-attr]
    layer.clock = clock  # the test's clock, to expire pages without waiting
    yield app
    app.state.engine.dispose()


def _page(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.text


def test_visitors_share_a_page_for_a_few_seconds(cached_app: FastAPI, session: Session, clock: Clock) -> None:
    consultation = make_consultation(session, phase="voting")
    make_proposal(session, consultation, make_user(session), title="Un banc près du terril")
    session.commit()
    path = f"/consultations/{consultation.slug}"
    with TestClient(cached_app) as first, TestClient(cached_app) as second:
        assert "Un banc près du terril" in _page(first, path)
        make_proposal(session, consultation, make_user(session), title="Des arbres rue Zola")
        session.commit()
        assert "Des arbres rue Zola" not in _page(second, path)  # the page of a moment ago
        clock.now += 6
        assert "Des arbres rue Zola" in _page(second, path)  # then the page of now


def test_a_signed_in_person_always_gets_their_own_page(cached_app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    session.commit()
    path = f"/consultations/{consultation.slug}"
    resident = make_user(session, name="Aïcha Benali")
    session.commit()
    with TestClient(cached_app) as visitor, TestClient(cached_app) as person:
        _page(visitor, path)
        sign_in(person, cached_app, resident)
        page = _page(person, path)
        assert "Aïcha Benali" in page
        assert "X-CSRF-Token" in page
        assert "Aïcha Benali" not in _page(visitor, path)
        assert "X-CSRF-Token" not in _page(visitor, path)


def test_pages_with_a_form_token_are_never_shared(cached_app: FastAPI) -> None:
    with TestClient(cached_app) as first, TestClient(cached_app) as second:
        one = first.get("/connexion")
        other = second.get("/connexion")
        token = 'name="csrf_token" value="'
        assert token in one.text
        assert one.text.split(token)[1][:20] != other.text.split(token)[1][:20]
        assert "carreau_csrf" in other.headers.get("set-cookie", "")


def test_each_language_has_its_own_page(cached_app: FastAPI) -> None:
    with TestClient(cached_app) as french, TestClient(cached_app) as english:
        english.cookies.set("carreau_lang", "en", domain="testserver.local")
        assert 'lang="fr"' in _page(french, "/")
        assert 'lang="en"' in _page(english, "/")
        assert 'lang="fr"' in _page(french, "/")


def test_api_and_errors_are_not_cached(cached_app: FastAPI, session: Session) -> None:
    middleware = PageCacheMiddleware(None, seconds=5, session_cookie="carreau_session", default_locale="fr")
    assert middleware._key({"type": "http", "method": "GET", "path": "/api/v1/axes", "headers": []}) is None
    assert middleware._key({"type": "http", "method": "POST", "path": "/", "headers": []}) is None
    bearer = {"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", b"Bearer x")]}
    assert middleware._key(bearer) is None
    with TestClient(cached_app) as client:
        assert client.get("/consultations/nulle-part").status_code == 404
        assert client.get("/consultations/nulle-part").status_code == 404


def test_htmx_fragments_and_whole_pages_are_kept_apart(cached_app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    session.commit()
    path = f"/consultations/{consultation.slug}?q=banc"
    with TestClient(cached_app) as client:
        whole = _page(client, path)
        fragment = client.get(path, headers={"HX-Request": "true"}).text
        assert "<html" in whole
        assert "<html" not in fragment
        assert "<html" in _page(client, path)


def test_one_render_at_a_time_per_page() -> None:
    """Visitors arriving while a page renders wait for it instead of rendering it again."""
    import asyncio

    renders = 0

    async def page(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        nonlocal renders
        renders += 1
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"<p>page</p>"})

    middleware = PageCacheMiddleware(page, seconds=5, session_cookie="carreau_session", default_locale="fr")

    async def visit() -> bytes:
        body = b""

        async def send(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal body
            body += message.get("body", b"")

        scope = {"type": "http", "method": "GET", "path": "/axes/x", "query_string": b"", "headers": []}
        await middleware(scope, None, send)
        return body

    async def crowd() -> list[bytes]:
        return await asyncio.gather(*(visit() for _ in range(20)))

    # A loop of its own, in a thread of its own: the worker's thread may run another test's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        bodies = pool.submit(lambda: asyncio.run(crowd())).result()
    assert bodies == [b"<p>page</p>"] * 20
    assert renders == 1


def test_a_fresh_page_is_served_before_the_application_stack(cached_app: FastAPI, session: Session) -> None:
    """Cache hits skip every other layer (app.main.Carreau): once kept, the page is served even
    though the stack behind it would now fail."""
    with TestClient(cached_app) as client:
        page = _page(client, "/")
        behind = cached_app.middleware_stack
        assert behind is not None

        async def broken(scope: object, receive: object, send: object) -> None:
            raise AssertionError("the stack was reached")

        cached_app.page_cache.app = broken  # type: ignore[attr-defined]
        try:
            assert _page(client, "/") == page
            with pytest.raises(AssertionError, match="the stack was reached"):
                client.get("/", headers={"Authorization": "Bearer x"})  # never served from the cache
        finally:
            cached_app.page_cache.app = behind.app  # type: ignore[attr-defined]


def test_lifetimes_are_spread_so_pages_do_not_all_expire_together(clock: Clock) -> None:
    import asyncio

    async def page(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<p>page</p>"})

    middleware = PageCacheMiddleware(page, seconds=10, session_cookie="carreau_session", default_locale="fr",
                                     clock=clock)

    async def visit(path: str) -> None:
        async def send(message: object) -> None:
            pass

        await middleware({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []},
                         None, send)

    async def visits() -> None:
        for n in range(50):
            await visit(f"/propositions/{n}")

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(visits())).result()
    lifetimes = [entry.expires - clock.now for entry in middleware.entries.values()]
    assert all(8 <= lifetime <= 10 for lifetime in lifetimes)
    assert len({round(lifetime, 3) for lifetime in lifetimes}) > 10
