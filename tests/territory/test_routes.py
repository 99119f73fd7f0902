import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.i18n import LOCALE_COOKIE
from app.territory import service
from tests.support import assert_fragment, assert_page, page_text


def test_axis_page(client: TestClient, session: Session) -> None:
    axis = service.get_axis(session, "centralites-urbaines")
    text = assert_page(client.get("/axes/centralites-urbaines"))
    assert axis.title in text
    assert axis.description in text
    assert "Axe prioritaire 2 sur 16" in text


def test_axis_page_links_to_its_neighbours(client: TestClient, session: Session) -> None:
    axes = service.list_axes(session)
    text = page_text(client.get(f"/axes/{axes[1].slug}"))
    assert f'href="/axes/{axes[0].slug}"' in text
    assert f'href="/axes/{axes[2].slug}"' in text
    first = page_text(client.get(f"/axes/{axes[0].slug}"))
    assert f'href="/axes/{axes[1].slug}"' in first
    last = page_text(client.get(f"/axes/{axes[-1].slug}"))
    assert f'href="/axes/{axes[-2].slug}"' in last


@pytest.mark.parametrize("slug", ["n-existe-pas", "1", "CENTRALITES-URBAINES"])
def test_unknown_axis_is_a_french_404_page(client: TestClient, slug: str) -> None:
    text = assert_page(client.get(f"/axes/{slug}"), 404)
    assert "Cet axe n’existe pas." in text


def test_unknown_axis_in_english(client: TestClient) -> None:
    client.cookies.set(LOCALE_COOKIE, "en")
    text = assert_page(client.get("/axes/n-existe-pas"), 404, locale="en")
    assert "This priority area does not exist." in text


def test_territory_page_lists_the_epcis(client: TestClient, session: Session) -> None:
    text = assert_page(client.get("/territoire"))
    for row in service.list_epcis(session):
        assert row.epci.name in text
        assert f"/territoire?epci={row.epci.siren}" in text
    assert "362 communes trouvées" in text


def test_territory_search_without_javascript(client: TestClient) -> None:
    response = client.get("/territoire", params={"q": "Lievin"})
    text = assert_page(response)
    assert "Liévin" in text
    assert "62800" in text
    assert "1 commune trouvée" in text
    assert 'value="Lievin"' in text  # the form keeps what was typed


def test_territory_search_for_htmx_returns_only_the_fragment(client: TestClient) -> None:
    response = client.get("/territoire", params={"q": "Lievin"}, headers={"HX-Request": "true"})
    text = assert_fragment(response)
    assert "Liévin" in text
    assert "1 commune trouvée" in text
    assert "Les intercommunalités" not in text  # nothing of the rest of the page


@pytest.mark.parametrize("header", ["HX-Boosted", "HX-History-Restore-Request"])
def test_boosted_and_history_requests_get_the_whole_page(client: TestClient, header: str) -> None:
    response = client.get("/territoire", params={"q": "Lievin"}, headers={"HX-Request": "true", header: "true"})
    assert "Liévin" in assert_page(response)


def test_territory_search_by_postal_code(client: TestClient) -> None:
    assert "Liévin" in page_text(client.get("/territoire", params={"q": "62800"}))


def test_territory_search_finds_nothing(client: TestClient) -> None:
    text = assert_page(client.get("/territoire", params={"q": "Paris"}))
    assert "Aucune commune ne correspond à votre recherche." in text


def test_territory_filter_by_epci(client: TestClient) -> None:
    text = page_text(client.get("/territoire", params={"epci": "246200364"}))
    assert "36 communes trouvées" in text
    assert "Liévin" in text


def test_territory_unknown_epci_is_ignored(client: TestClient) -> None:
    text = assert_page(client.get("/territoire", params={"epci": "123456789"}))
    assert "362 communes trouvées" in text


def test_territory_pages_of_results(client: TestClient) -> None:
    first = page_text(client.get("/territoire"))
    second = page_text(client.get("/territoire", params={"page": 2}))
    assert "page 1 sur 19" in first
    assert "page 2 sur 19" in second
    assert "page=2" in first


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"q": "x" * 101}])
def test_territory_invalid_parameters(client: TestClient, params: dict[str, str]) -> None:
    assert_page(client.get("/territoire", params=params), 400)
