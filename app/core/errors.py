"""Domain errors and the one place that turns any error into a page, a fragment or problem+json."""

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path, get_route_path

from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.templating import render

logger = logging.getLogger("carreau")
PROBLEM_JSON = "application/problem+json"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "about:blank, or /problems/<code> naming the refusal"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "In the language of the request"},
        "errors": {"type": "array", "description": "The invalid parameters (422)", "items": {
            "type": "object", "properties": {"location": {"type": "array", "items": {"type": "string"}},
                                             "message": {"type": "string"}}}},
    },
}
# What every route under /api documents besides its own answers: its errors, as problem documents
# (the API never answers an error otherwise; app.main includes the API routers with it).
API_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused: a problem document (401 sign in, 403, 404, 409, 422, 429 with Retry-After)",
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}},
}


class DomainError(Exception):
    """A rule said no. Subclasses set the status and a French message (translated when shown)."""

    status_code = 400
    message = N_("La demande ne peut pas être traitée.")
    # Names the kind of refusal in problem documents ("type": "/problems/<code>").
    code: str | None = None
    headers: dict[str, str] | None = None

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class NotFound(DomainError):
    status_code = 404
    message = N_("Cette page n’existe pas.")


class Forbidden(DomainError):
    status_code = 403
    message = N_("Vous n’avez pas le droit de faire cela.")


class Conflict(DomainError):
    status_code = 409
    message = N_("Cette action est en conflit avec l’état actuel.")


class SignInRequired(DomainError):
    """Pages send the visitor to the sign-in page and back; the API answers 401."""

    status_code = 401
    message = N_("Connectez-vous pour continuer.")
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": 'Bearer realm="carreau"'}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _error_page(request: Request, status: int, detail: str) -> Response:
    template = f"errors/{status}.html" if status in (404, 500) else "errors/error.html"
    return render(request, template, fragment="errors/_error.html", status_code=status, status=status, detail=detail)


def _respond(request: Request, status: int, detail: str, **extra: Any) -> Response:
    if is_api(request) or request.url.path == "/healthz":
        return problem(status, detail, **extra)
    return _error_page(request, status, detail)


_DEFAULT_DETAILS = {
    404: N_("Cette page n’existe pas."),
    405: N_("Cette méthode n’est pas permise ici."),
    500: N_("Une erreur inattendue s’est produite. Elle a été enregistrée ; réessayez dans un moment."),
}


def _come_back_to(request: Request) -> str:
    """Where to return after signing in: the page asked for; for a form sent (POST), the page the
    form was on, since its action may have no page of its own (a 405 after signing in)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method in ("GET", "HEAD"):
        return target
    origin = urlsplit(request.headers.get("HX-Current-URL") or request.headers.get("referer") or "")
    if origin.netloc == request.url.netloc and origin.path.startswith("/"):
        return origin.path + (f"?{origin.query}" if origin.query else "")
    return target


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, SignInRequired) and not is_api(request):
        location = "/connexion?" + urlencode({"next": _come_back_to(request)})
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)
    extra = {"type": f"/problems/{exc.code}"} if exc.code else {}
    response = _respond(request, exc.status_code, _(exc.message), **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts at this path: Starlette's 405 names only those of the first
    route matching the path (GET /api/v1/me, not DELETE /api/v1/me, which is another route)."""
    methods: set[str] = set()
    path = get_route_path(request.scope)
    for context in iter_route_contexts(request.app.routes):
        if context.methods and context.path and compile_path(context.path)[0].match(path):
            methods |= context.methods
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code not in _DEFAULT_DETAILS else None
    fallback = _DEFAULT_DETAILS.get(exc.status_code, N_("La demande n’a pas abouti."))
    response = _respond(request, exc.status_code, detail or _(fallback))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        response.headers["Allow"] = allowed
    return response


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": [str(part) for part in error.get("loc", ())], "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    detail = _("Certains paramètres de la demande ne sont pas valides.")
    if is_api(request):
        return problem(422, detail, errors=errors)
    return _error_page(request, 400, detail)


def _out_of_range(exc: Exception) -> bool:
    """A number the database cannot hold (an id of 2**70): SQLite's driver refuses to bind it,
    PostgreSQL answers "out of range"; no row can have it."""
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, DBAPIError) and isinstance(exc.orig, pg_errors.NumericValueOutOfRange)


async def _on_out_of_range(request: Request, exc: Exception) -> Response:
    if not _out_of_range(exc):
        raise exc  # any other database error: _on_unexpected_error
    if is_api(request):
        return problem(422, _("Certains paramètres de la demande ne sont pas valides."),
                       errors=[{"location": [], "message": "number out of range"}])
    return _error_page(request, 404, _(_DEFAULT_DETAILS[404]))


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(request, 500, _(_DEFAULT_DETAILS[500]))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    # Not under Exception: Starlette re-raises what that handler answered, a 500 for the server.
    app.add_exception_handler(OverflowError, _on_out_of_range)
    app.add_exception_handler(DBAPIError, _on_out_of_range)
    app.add_exception_handler(Exception, _on_unexpected_error)
