"""Jinja2 environment (autoescaped, i18n) and render(), which answers a page or an htmx fragment."""

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments.fastapi import Jinja2Blocks

from app.core import i18n
from app.core.settings import PROJECT_ROOT, SUPPORTED_LOCALES, Settings

TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"


@lru_cache(maxsize=256)
def _asset_version(path: str) -> str:
    file = STATIC_DIR / path
    return hashlib.sha256(file.read_bytes()).hexdigest()[:10] if file.is_file() else "0"


def static_url(path: str) -> str:
    """A cache-busting URL for a file under static/ (the hash changes when the file does)."""
    return f"/static/{path}?v={_asset_version(path)}"


def build_templates(settings: Settings, directory: Path = TEMPLATES_DIR) -> Jinja2Blocks:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=settings.debug,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        static_url=static_url,
        get_locale=i18n.get_locale,
        locales=SUPPORTED_LOCALES,
        language_names=i18n.LANGUAGE_NAMES,
        operator={
            "name": settings.operator_name,
            "logo": settings.operator_logo,
            "color": settings.operator_color,
        },
        accessibility_status=settings.accessibility_status.value,
    )
    return Jinja2Blocks(env=env)


def wants_fragment(request: Request) -> bool:
    """True for an htmx swap; boosted links and history restores need the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request, page: str, *, fragment: str | None = None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render `page`, or only `fragment` when htmx asks for a swap; caches must keep both apart."""
    templates: Jinja2Blocks = request.app.state.templates
    name = fragment if fragment and wants_fragment(request) else page
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request, Cookie"
    return response
