"""Security headers on every answer (pages, API, static files, errors)."""

from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders


def content_security_policy(form_targets: list[str]) -> str:
    """No inline script or style, nothing from elsewhere but the identity providers that forms and
    their redirects may reach (sign-in and sign-out)."""
    origins = sorted({f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in form_targets if url})
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action " + " ".join(["'self'", *origins]),
    ])


class SecurityHeadersMiddleware:
    def __init__(self, app: Any, *, csp: str, hsts: bool) -> None:
        self.app = app
        self.csp = csp
        self.hsts = hsts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
                # Pages for a signed-in person, and answers to a program's token, must not sit in
                # any cache (shared, browser, back-forward).
                signed_in = "carreau.session" in scope and scope["carreau.session"].user_id is not None
                if signed_in or any(name == b"authorization" for name, _value in scope.get("headers", ())):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
