"""Languages: French first (message ids are French), English through compiled Babel catalogues.

The request's language lives in a context variable set by LocaleMiddleware, so templates,
error handlers and services all see it without passing it around."""

import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from functools import lru_cache
from gettext import NullTranslations
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from app.core.settings import SUPPORTED_LOCALES

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
LOCALE_COOKIE = "carreau_lang"
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

_current_locale: ContextVar[str] = ContextVar("carreau_locale", default="fr")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every .po whose .mo is missing or older; returns what was written."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parts[-3])
        # Written aside then renamed: several workers may start at once, none must read half a file.
        partial = mo_path.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(partial, mo_path)
        written.append(mo_path)
    return written


class FrenchSource(NullTranslations):
    """The message ids are the French text; French counts 0 and 1 in the singular ("0 soutien")."""

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return msgid1 if n in (0, 1) else msgid2


@lru_cache
def translations_for(locale: str) -> NullTranslations:
    if locale == "fr":
        return FrenchSource()
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def get_locale() -> str:
    return _current_locale.get()


def set_locale(locale: str) -> None:
    _current_locale.set(locale if locale in SUPPORTED_LOCALES else "fr")


def gettext(message: str, **variables: object) -> str:
    """The message in the request's language, with %(name)s placeholders filled in."""
    text = translations_for(get_locale()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations_for(get_locale()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated later, where it is shown."""
    return message


def locale_from_cookie_header(cookie_header: str, default: str) -> str:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(cookie_header)
    except Exception:  # a malformed Cookie header must not break the page
        return default
    morsel = cookie.get(LOCALE_COOKIE)
    if morsel and morsel.value in SUPPORTED_LOCALES:
        return morsel.value
    return default


class LocaleMiddleware:
    """Chooses the language from the `carreau_lang` cookie, else the operator's default."""

    def __init__(self, app: ASGIApp, default_locale: str) -> None:
        self.app = app
        self.default_locale = default_locale

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            cookie_header = ""
            for name, value in scope.get("headers", []):
                if name == b"cookie":
                    cookie_header = value.decode("latin-1")
            locale = locale_from_cookie_header(cookie_header, self.default_locale)
            scope.setdefault("state", {})["locale"] = locale
            set_locale(locale)
        await self.app(scope, receive, send)
