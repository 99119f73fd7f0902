"""CSRF protection for every unsafe request that rides on cookies.

A random `carreau_csrf` cookie is set on first visit; pages put HMAC(secret, cookie) in each form
(`csrf_token` field) and in a header for htmx (`X-CSRF-Token`). An unsafe request must carry it.
Requests authenticated with a bearer token carry no ambient authority and are exempt."""

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from app.core.errors import DomainError
from app.core.i18n import N_
from app.core.pagecache import CSRF_RENDERED

CSRF_COOKIE = "carreau_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ONE_CLICK_UNSUBSCRIBE = "/notifications/desabonnement/"  # exempt: see verify_csrf


class CsrfFailed(DomainError):
    status_code = 403
    message = N_("La vérification de sécurité du formulaire a échoué. Rechargez la page, puis réessayez.")


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(connection: HTTPConnection) -> str:
    """The token for this browser, to put in forms and in the htmx header. A browser without the
    cookie gets one with this answer (only pages that show a form need it)."""
    connection.scope[CSRF_RENDERED] = True  # a page holding it is personal: never cached
    value = connection.cookies.get(CSRF_COOKIE) or connection.scope.get("carreau.csrf_cookie")
    if not value:
        value = connection.scope["carreau.csrf_cookie"] = secrets.token_urlsafe(32)
    return _sign(connection.app.state.settings.secret_key, value)


class CsrfCookieMiddleware:
    """Sets the random CSRF cookie when a page handed out a token for it (HttpOnly: scripts read
    the token from the page)."""

    def __init__(self, app: Any, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or HTTPConnection(scope).cookies.get(CSRF_COOKIE):
            await self.app(scope, receive, send)
            return
        async def send_with_cookie(message: Any) -> None:
            value = scope.get("carreau.csrf_cookie")
            if message["type"] == "http.response.start" and value:
                attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                MutableHeaders(scope=message).append("set-cookie", f"{CSRF_COOKIE}={value}; {attributes}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _has_bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


async def verify_csrf(request: Request) -> None:
    """A dependency of the whole app: no unsafe cookie-borne request passes without the token."""
    if request.method in SAFE_METHODS:
        return
    if request.url.path.startswith(ONE_CLICK_UNSUBSCRIBE):
        # RFC 8058: a mail client unsubscribes with a plain POST to the link of the email, with no
        # cookie and no CSRF token. The signed token in the URL is the proof (checked by the route),
        # and all the request can do is turn that one person's emails off.
        return
    if request.url.path.startswith("/api/"):
        if _has_bearer(request):
            return
        if not request.cookies:
            return  # no cookie, no ambient authority to abuse
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfFailed()
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie:
        raise CsrfFailed()
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    expected = _sign(request.app.state.settings.secret_key, cookie)
    # As bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500; wapiti's
    # "¿'\"(" appended to the token, docs/scans.md).
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
