from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.db import get_session
from app.core.i18n import LOCALE_COOKIE
from app.core.settings import AccessibilityStatus, Settings
from app.main import create_app
from app.territory import service
from tests.support import FOOTER_LINKS, assert_page, page_text, use_session

PAGES = [
    "/", "/mentions-legales", "/donnees-personnelles", "/accessibilite", "/territoire", "/axes/centralites-urbaines",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_in_french_with_the_footer_links(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert_page(response)
    assert "Cookie" in response.headers["vary"]


def test_home_lists_the_16_axes(client: TestClient, session: Session) -> None:
    text = assert_page(client.get("/"))
    axes = service.list_axes(session)
    assert len(axes) == 16
    for axis in axes:
        assert axis.title in text
        assert f'href="/axes/{axis.slug}"' in text
    assert 'href="/territoire"' in text


def test_home_shows_an_axis_renamed_by_an_admin(client: TestClient, session: Session) -> None:
    axis = service.get_axis(session, "centralites-urbaines")
    axis.title = "Des centres-villes vivants"
    session.add(axis)
    session.commit()
    assert "Des centres-villes vivants" in page_text(client.get("/"))


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/mentions-legales", "Mentions légales"),
        ("/donnees-personnelles", "Données personnelles"),
        ("/accessibilite", "Déclaration d’accessibilité"),
    ],
)
def test_mandatory_pages(client: TestClient, path: str, heading: str) -> None:
    assert heading in assert_page(client.get(path))


def test_footer_states_the_accessibility_status(client: TestClient) -> None:
    assert "Accessibilité : non conforme" in page_text(client.get("/"))


@pytest.fixture
def operator_client(settings: Settings, session: Session) -> Iterator[TestClient]:
    """An operator that set its name, colour and accessibility status."""
    customised = settings.model_copy(
        update={
            "operator_name": "Participer à Lens",
            "operator_color": "#1a4d8f",
            "accessibility_status": AccessibilityStatus.partial,
        }
    )
    app = create_app(customised)
    use_session(app, session)
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


def test_operator_settings_show_on_every_page(operator_client: TestClient) -> None:
    text = page_text(operator_client.get("/accessibilite"))
    assert "Participer à Lens" in text
    assert 'href="/theme.css' in text  # the colour comes as a stylesheet: the CSP forbids inline styles
    theme = operator_client.get("/theme.css")
    assert theme.headers["content-type"].startswith("text/css")
    assert "--cr-primary: #1a4d8f;" in theme.text
    assert "Accessibilité : partiellement conforme" in text
    assert "partiellement conforme avec le référentiel" in text


@pytest.mark.parametrize("target", ["/territoire", "/territoire?q=Lens&page=2", "/axes/centralites-urbaines"])
def test_language_switch_sets_the_cookie_and_redirects(client: TestClient, target: str) -> None:
    response = client.get("/langue/en", params={"next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == target
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{LOCALE_COOKIE}=en;")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=31536000" in cookie


def test_language_switch_then_pages_are_in_english(client: TestClient) -> None:
    response = client.get("/langue/en", params={"next": "/territoire"})  # follows the redirect
    assert response.status_code == 200
    assert str(response.url).endswith("/territoire")
    assert_page(response, locale="en")
    assert client.cookies.get(LOCALE_COOKIE) == "en"
    assert_page(client.get("/langue/fr", params={"next": "/"}), locale="fr")


def test_language_switch_defaults_to_home(client: TestClient) -> None:
    response = client.get("/langue/en", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_unknown_language_sets_no_cookie(client: TestClient) -> None:
    response = client.get("/langue/xx", params={"next": "/territoire"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/territoire"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example", "/\\evil.example", "evil.example", "javascript:alert(1)"]
)
def test_language_switch_refuses_to_leave_the_site(client: TestClient, target: str) -> None:
    response = client.get("/langue/en", params={"next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_english_page_with_the_cookie(client: TestClient) -> None:
    client.cookies.set(LOCALE_COOKIE, "en")
    text = assert_page(client.get("/"), locale="en")
    assert "Skip to content" in text
    assert "Aller au contenu" not in text
    assert "Legal notice" in text


def test_english_error_page(client: TestClient) -> None:
    client.cookies.set(LOCALE_COOKIE, "en")
    text = assert_page(client.get("/nulle-part"), 404, locale="en")
    assert "This page does not exist." in text


def test_language_links_keep_the_current_page(client: TestClient) -> None:
    text = page_text(client.get("/territoire", params={"q": "Lens"}))
    assert 'href="/langue/en?next=/territoire%3Fq%3DLens"' in text


def test_healthz_reports_a_broken_database(settings: Settings) -> None:
    app = create_app(settings)

    class BrokenSession:
        def connection(self) -> None:
            raise RuntimeError("no database")

    app.dependency_overrides[get_session] = lambda: BrokenSession()
    with TestClient(app) as client:
        response = client.get("/healthz")
    app.state.engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Service Unavailable"


def test_footer_links_are_the_three_mandatory_pages() -> None:
    assert FOOTER_LINKS == ("/mentions-legales", "/donnees-personnelles", "/accessibilite")
