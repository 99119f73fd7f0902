"""A short-lived cache of public pages for visitors who are not signed in.

Most page views are anonymous and identical for everyone (an axis, a consultation, a proposal): the
same bytes, rendered again and again. This middleware keeps such answers in the worker's memory for
a few seconds (`page_cache_seconds`, 0 turns it off) and serves them without going through the
application. It never stores, and never serves, anything personal:

- only GET and HEAD, only for requests without a session cookie and without an Authorization header
  (a signed-in person always gets their own page, built for them);
- an answer is stored only if it is a 200 HTML page that set no cookie and rendered no CSRF token
  (a page with a form holds a per-browser token: see app.core.csrf, which marks the request);
- the key is the path, the query string, the language and whether htmx asked for a fragment.

So the price is staleness, bounded by the lifetime (plus the time one render takes): an anonymous
visitor may see a count or a page up to that many seconds old (a hidden proposal disappears for them
at most that late). One request at a time renders a given page: the others arriving meanwhile wait
for it (or get the expired copy while it is being renewed) instead of all rendering it at once.
Each worker has its own cache, bounded in entries; nothing is shared between processes."""

import asyncio
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders

from app.core.i18n import locale_from_cookie_header

CSRF_RENDERED = "carreau.csrf_rendered"  # set in the ASGI scope by app.core.csrf.csrf_token
CACHEABLE_STATUS = 200


@dataclass
class _Entry:
    expires: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def _send_entry(entry: _Entry, scope: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else entry.body})


class PageCacheMiddleware:
    def __init__(self, app: Any, *, seconds: float, session_cookie: str, default_locale: str,
                 max_entries: int = 2000, max_body: int = 512 * 1024, clock: Any = time.monotonic) -> None:
        self.app = app
        self.default_locale = default_locale
        self.seconds = seconds
        self.session_cookie = session_cookie.encode()
        self.max_entries = max_entries
        self.max_body = max_body
        self.clock = clock
        self.entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self.rendering: dict[tuple[Any, ...], asyncio.Event] = {}

    def _key(self, scope: Any) -> tuple[Any, ...] | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or self.seconds <= 0:
            return None
        if scope["path"].startswith(("/api/", "/static/")):
            return None  # the API answers per caller; static files have their own caching
        cookies = b""
        hx = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                return None
            if name == b"cookie":
                cookies = value
            elif name == b"hx-request":
                hx = value
        if not cookies:
            return scope["path"], scope.get("query_string", b""), self.default_locale, hx
        if self.session_cookie + b"=" in cookies:
            return None
        locale = locale_from_cookie_header(cookies.decode("latin-1"), self.default_locale)
        return scope["path"], scope.get("query_string", b""), locale, hx

    async def serve_fresh(self, scope: Any, send: Any) -> bool:
        """Answer from a fresh copy, if there is one (the application's fast path: see app.main)."""
        key = self._key(scope)
        entry = self.entries.get(key) if key is not None else None
        if entry is None or entry.expires <= self.clock():
            return False
        await _send_entry(entry, scope, send)
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        entry = self.entries.get(key)
        if entry is None and key in self.rendering:
            await self.rendering[key].wait()  # someone is rendering this very page: take theirs
            entry = self.entries.get(key)
        if entry is not None and (entry.expires > self.clock() or key in self.rendering):
            # Fresh, or being renewed by another request right now: the copy we have will do.
            await _send_entry(entry, scope, send)
            return
        done = self.rendering[key] = asyncio.Event()
        try:
            await self._render(key, scope, receive, send)
        finally:
            if self.rendering.get(key) is done:
                del self.rendering[key]
            done.set()

    async def _render(self, key: tuple[Any, ...], scope: Any, receive: Any, send: Any) -> None:
        started: dict[str, Any] = {}
        chunks: list[bytes] = []
        storable = True

        async def capture(message: Any) -> None:
            nonlocal storable
            if message["type"] == "http.response.start":
                started.update(message)
                headers = MutableHeaders(raw=message["headers"])
                if (message["status"] != CACHEABLE_STATUS or "set-cookie" in headers
                        or not headers.get("content-type", "").startswith("text/html")):
                    storable = False
            elif message["type"] == "http.response.body" and storable:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > self.max_body:
                    storable = False
            await send(message)

        await self.app(scope, receive, capture)
        if storable and started and not scope.get(CSRF_RENDERED) and scope["method"] == "GET":
            # Lifetimes spread over the last fifth: pages first rendered together (after a start,
            # under load) do not all expire, and get rendered again, at the same moment.
            lifetime = self.seconds * (0.8 + 0.2 * random.random())
            self.entries[key] = _Entry(self.clock() + lifetime, started["status"], list(started["headers"]),
                                       b"".join(chunks))
            self.entries.move_to_end(key)
            if len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        else:
            self.entries.pop(key, None)  # no longer shareable (e.g. now an error): drop the old copy
