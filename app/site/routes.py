"""Home, the pages every public site must have, the language switch and the health check."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from app.core.db import SessionDep
from app.core.errors import problem
from app.core.i18n import LOCALE_COOKIE
from app.core.i18n import gettext as _
from app.core.settings import SUPPORTED_LOCALES
from app.core.templating import render
from app.territory import service as territory

router = APIRouter(include_in_schema=False)
api_router = APIRouter()
theme_router = APIRouter(include_in_schema=False)

ONE_YEAR = 365 * 24 * 3600


@router.get("/", response_class=HTMLResponse, name="site:home")
def home(request: Request, session: SessionDep) -> HTMLResponse:
    return render(request, "site/home.html", axes=territory.list_axes(session))


@router.get("/mentions-legales", response_class=HTMLResponse, name="site:legal")
def legal_notice(request: Request) -> HTMLResponse:
    return render(request, "site/legal.html")


@router.get("/donnees-personnelles", response_class=HTMLResponse, name="site:privacy")
def privacy(request: Request) -> HTMLResponse:
    return render(request, "site/privacy.html")


@router.get("/accessibilite", response_class=HTMLResponse, name="site:accessibility")
def accessibility(request: Request) -> HTMLResponse:
    return render(request, "site/accessibility.html")


@router.get("/api/docs", response_class=HTMLResponse, name="site:api_docs")
def api_docs(request: Request) -> HTMLResponse:
    """The API's operations, read from its OpenAPI description, on a plain page: Swagger UI needs an
    inline script and a CDN, which the Content-Security-Policy rightly refuses (it showed a blank page)."""
    spec = request.app.openapi()
    operations = [
        (method.upper(), path, operation.get("summary") or "")
        for path, item in spec["paths"].items()
        for method, operation in item.items() if method in ("get", "post", "put", "patch", "delete")
    ]
    return render(request, "site/api_docs.html", operations=operations, description=spec["info"].get("description", ""))


def _local_path(target: str) -> str:
    """Only paths on this site: an open redirect would lend our name to phishing."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return "/"  # browsers drop tabs and new lines: "/\t/evil.example" would be "//evil.example"
    return target


@router.get("/langue/{locale}", name="site:language")
def switch_language(
    locale: str, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    response = RedirectResponse(_local_path(next_path), status_code=303)
    if locale in SUPPORTED_LOCALES:
        response.set_cookie(LOCALE_COOKIE, locale, max_age=ONE_YEAR, samesite="lax", httponly=True)
    return response


@api_router.get("/healthz", tags=["health"], summary="The application and its database answer")
def healthz(session: SessionDep) -> Response:
    try:
        session.connection().execute(text("SELECT 1"))
    except Exception:
        return problem(503, _("La base de données ne répond pas."), title="Service Unavailable")
    return JSONResponse({"status": "ok", "database": "ok"})


@theme_router.get("/theme.css", name="site:theme")
def theme(request: Request) -> Response:
    """The operator's colour as a stylesheet (inline styles are forbidden by our CSP)."""
    color = request.app.state.settings.operator_color  # validated #rrggbb
    return Response(f":root {{ --cr-primary: {color}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})
