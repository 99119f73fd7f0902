"""Jinja2 environment (autoescaped, i18n) and render(), which answers a page or an htmx fragment."""

import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup, escape

from app.core import i18n
from app.core.i18n import N_
from app.core.settings import PROJECT_ROOT, SUPPORTED_LOCALES, AccessibilityStatus, Settings

TEMPLATES_DIR = PROJECT_ROOT / "templates"
PARIS = ZoneInfo("Europe/Paris")
STATIC_DIR = PROJECT_ROOT / "static"


ACCESSIBILITY_LABELS = {
    AccessibilityStatus.total: N_("totalement conforme"),
    AccessibilityStatus.partial: N_("partiellement conforme"),
    AccessibilityStatus.none: N_("non conforme"),
}


def accessibility_label(status: str) -> str:
    return i18n.gettext(ACCESSIBILITY_LABELS[AccessibilityStatus(status)])


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
    env.filters["number"] = format_number
    env.filters["datetime"] = format_moment
    env.filters["date"] = format_day
    env.filters["fr"] = in_french
    # A stored text that may be one of our messages (a preset moderation reason): translated, but
    # a plain string, escaped like any stored text (`_(text)` would mark a person's text safe HTML).
    env.filters["translated"] = i18n.gettext
    env.globals["pop_flash"] = pop_flash
    env.globals["signed_in_name"] = signed_in_name
    env.globals.update(
        static_url=static_url,
        get_locale=i18n.get_locale,
        locales=SUPPORTED_LOCALES,
        language_names=i18n.LANGUAGE_NAMES,
        operator={
            "name": settings.operator_name,
            "logo": settings.operator_logo,
            "color": settings.operator_color,
            "contact_email": settings.operator_contact_email,
        },
        accessibility_status=settings.accessibility_status.value,
        accessibility_label=accessibility_label,
    )
    return Jinja2Blocks(env=env)


def format_number(value: int | float | None) -> str:
    """Numbers as the reader's language writes them (French: 32 920, English: 32,920)."""
    return "—" if value is None else format_decimal(value, locale=i18n.get_locale())


def format_moment(value: datetime | None) -> str:
    """A date and time as the reader's language writes them, in the platform's time zone."""
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return format_datetime(aware, "medium", tzinfo=PARIS, locale=i18n.get_locale())


def format_day(value: datetime | None, *, end: bool = False) -> str:
    """The day of a moment in the platform's time zone ("1 mars 2027"). With end=True, the last
    day of a period that ends at `value` (a phase ending at midnight ends the day before)."""
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if end:
        aware -= timedelta(microseconds=1)
    return format_date(aware.astimezone(PARIS), "long", locale=i18n.get_locale())


def in_french(text: str) -> Markup:
    """Content that exists only in French (reference data, residents' text) keeps its language
    for screen readers when the page is in another one (WCAG 3.1.2)."""
    if i18n.get_locale() == "fr":
        return escape(text)
    return Markup('<span lang="fr">{}</span>').format(text)


def pop_flash(request: Request) -> dict[str, str] | None:
    """The one-time message left by the previous request (e.g. after a redirect)."""
    if "session" not in request.scope:
        return None
    return request.session.pop("flash", None)


def signed_in_name(request: Request) -> str | None:
    state = request.scope.get("carreau.session")
    if state is None or state.user_id is None:
        return None
    return request.session.get("name") or "—"


def wants_fragment(request: Request) -> bool:
    """True for an htmx swap; boosted links and history restores need the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request, template: str, /, *, fragment: str | None = None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render `template`, or only `fragment` when htmx asks for a swap; caches must keep both apart."""
    templates: Jinja2Blocks = request.app.state.templates
    name = fragment if fragment and wants_fragment(request) else template
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request, Cookie"
    return response
