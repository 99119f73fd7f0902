import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from app.core import i18n
from app.core.i18n import (
    LOCALE_COOKIE,
    LocaleMiddleware,
    compile_catalogs,
    get_locale,
    gettext,
    locale_from_cookie_header,
    ngettext,
    set_locale,
)


@pytest.fixture(autouse=True)
def _french_afterwards() -> Iterator[None]:
    yield
    set_locale("fr")


def write_catalog(directory: Path, locale: str, messages: dict[str, str]) -> Path:
    catalog = Catalog(locale=locale)
    for message_id, translation in messages.items():
        catalog.add(message_id, translation)
    catalog.add(("Une commune", "%(num)s communes"), ("One commune", "%(num)s communes"))
    po_path = directory / locale / "LC_MESSAGES" / "messages.po"
    po_path.parent.mkdir(parents=True)
    with po_path.open("wb") as handle:
        write_po(handle, catalog)
    return po_path


@pytest.fixture
def english_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An English catalogue of our own, in place of the application's."""
    write_catalog(tmp_path, "en", {"Accueil": "Home", "Bonjour": "Hello"})
    compile_catalogs(tmp_path)
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    i18n.translations_for.cache_clear()
    yield tmp_path
    i18n.translations_for.cache_clear()


def test_compile_catalogs_writes_missing_or_stale_mo_files(tmp_path: Path) -> None:
    po_path = write_catalog(tmp_path, "en", {"Accueil": "Home"})
    mo_path = po_path.with_suffix(".mo")
    assert compile_catalogs(tmp_path) == [mo_path]
    assert mo_path.stat().st_size > 0
    assert compile_catalogs(tmp_path) == []  # up to date
    stat = mo_path.stat()
    os.utime(po_path, (stat.st_atime, stat.st_mtime + 10))  # the .po was edited since
    assert compile_catalogs(tmp_path) == [mo_path]


def test_the_application_catalogues_compile() -> None:
    compile_catalogs()
    for po_path in i18n.TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po"):
        assert po_path.with_suffix(".mo").stat().st_mtime >= po_path.stat().st_mtime


def test_french_returns_the_message_id() -> None:
    set_locale("fr")
    assert get_locale() == "fr"
    assert gettext("Accueil") == "Accueil"
    assert gettext("Une phrase qui n’est dans aucun catalogue.") == "Une phrase qui n’est dans aucun catalogue."
    assert ngettext("%(num)s commune", "%(num)s communes", 1) == "%(num)s commune"
    assert ngettext("%(num)s commune", "%(num)s communes", 2) == "%(num)s communes"


def test_english_uses_the_catalogue(english_catalog: Path) -> None:
    set_locale("en")
    assert gettext("Accueil") == "Home"
    assert gettext("Pas traduit") == "Pas traduit"  # falls back to the French id
    assert ngettext("Une commune", "%(num)s communes", 1) == "One commune"
    set_locale("fr")
    assert gettext("Accueil") == "Accueil"


def test_unknown_locale_falls_back_to_french() -> None:
    set_locale("de")
    assert get_locale() == "fr"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "fr"),
        (f"{LOCALE_COOKIE}=en", "en"),
        (f"other=1; {LOCALE_COOKIE}=en; more=2", "en"),
        (f"{LOCALE_COOKIE}=de", "fr"),
        (f"{LOCALE_COOKIE}=fr", "fr"),
        ('bad"cookie=\x00;;', "fr"),
    ],
)
def test_locale_from_cookie_header(header: str, expected: str) -> None:
    assert locale_from_cookie_header(header, "fr") == expected


def test_default_locale_applies_without_cookie() -> None:
    assert locale_from_cookie_header("", "en") == "en"
    assert locale_from_cookie_header(f"{LOCALE_COOKIE}=fr", "en") == "fr"


def locale_app(default_locale: str = "fr") -> FastAPI:
    app = FastAPI()
    app.add_middleware(LocaleMiddleware, default_locale=default_locale)

    @app.get("/locale")
    def _locale(request: Request) -> dict[str, str]:
        return {"locale": get_locale(), "state": request.state.locale, "home": gettext("Accueil")}

    return app


def test_middleware_chooses_the_language_from_the_cookie(english_catalog: Path) -> None:
    with TestClient(locale_app()) as client:
        assert client.get("/locale").json() == {"locale": "fr", "state": "fr", "home": "Accueil"}
        client.cookies.set(LOCALE_COOKIE, "en")
        assert client.get("/locale").json() == {"locale": "en", "state": "en", "home": "Home"}
        client.cookies.set(LOCALE_COOKIE, "xx")
        assert client.get("/locale").json()["locale"] == "fr"


def test_middleware_uses_the_operator_default(english_catalog: Path) -> None:
    with TestClient(locale_app(default_locale="en")) as client:
        assert client.get("/locale").json()["locale"] == "en"


def test_the_application_speaks_english() -> None:
    compile_catalogs()
    set_locale("en")
    assert gettext("Accueil") == "Home"
    assert gettext("Cette page n’existe pas.") == "This page does not exist."
