from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.errors import PROBLEM_JSON

COMMUNE_KEYS = {"insee_code", "name", "epci_siren", "population", "postal_codes"}


def commune_names(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/v1/territory/communes", params=params)
    assert response.status_code == 200
    return [commune["name"] for commune in response.json()]


def test_axes(client: TestClient) -> None:
    response = client.get("/api/v1/axes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    axes = response.json()
    assert len(axes) == 16
    assert all(set(axis) == {"id", "number", "slug", "title", "description"} for axis in axes)
    assert [axis["number"] for axis in axes] == list(range(1, 17))
    assert axes[1]["slug"] == "centralites-urbaines"
    assert axes[1]["title"] == "Renforcer les centralités urbaines"
    assert all(isinstance(axis["id"], int) and axis["description"] for axis in axes)


def test_epcis(client: TestClient) -> None:
    response = client.get("/api/v1/territory/epcis")
    assert response.status_code == 200
    epcis = response.json()
    assert len(epcis) == 13
    assert all(set(epci) == {"siren", "name", "population", "commune_count", "is_signatory"} for epci in epcis)
    assert [epci["is_signatory"] for epci in epcis] == [True] * 8 + [False] * 5
    by_siren = {epci["siren"]: epci for epci in epcis}
    assert by_siren["200072460"] == {
        "siren": "200072460", "name": "CA de Béthune-Bruay, Artois-Lys Romane", "population": 275736,
        "commune_count": 100, "is_signatory": True,
    }
    assert sum(epci["commune_count"] for epci in epcis if epci["is_signatory"]) == 336
    assert sum(epci["commune_count"] for epci in epcis) == 362


@pytest.mark.parametrize(("value", "count"), [("true", 8), ("1", 8), ("false", 13)])
def test_epcis_signatory_filter(client: TestClient, value: str, count: int) -> None:
    epcis = client.get("/api/v1/territory/epcis", params={"signatory": value}).json()
    assert len(epcis) == count


def test_epcis_signatory_filter_must_be_a_boolean(client: TestClient) -> None:
    response = client.get("/api/v1/territory/epcis", params={"signatory": "maybe"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


def test_communes_shape(client: TestClient) -> None:
    response = client.get("/api/v1/territory/communes", params={"q": "Liévin"})
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "1"
    assert response.json() == [
        {"insee_code": "62510", "name": "Liévin", "epci_siren": "246200364", "population": 30063,
         "postal_codes": ["62800"]},
    ]


@pytest.mark.parametrize("q", ["Lievin", "liévin", "LIEVIN", "62800", "6280"])
def test_communes_search_finds_lievin(client: TestClient, q: str) -> None:
    assert "Liévin" in commune_names(client, q=q)


def test_communes_names_starting_with_the_query_come_first(client: TestClient) -> None:
    names = commune_names(client, q="lens")
    assert names[0] == "Lens"
    assert sorted(names[1:]) == [
        "Courcelles-lès-Lens", "Fouquières-lès-Lens", "Loison-sous-Lens", "Noyelles-sous-Lens",
    ]


def test_communes_full_insee_code(client: TestClient) -> None:
    assert commune_names(client, q="62498") == ["Lens"]


def test_communes_partial_insee_code_only_matches_postal_codes(client: TestClient) -> None:
    response = client.get("/api/v1/territory/communes", params={"q": "5900"})
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


def test_communes_epci_filter(client: TestClient) -> None:
    response = client.get("/api/v1/territory/communes", params={"epci": "200072460", "limit": 500})
    assert response.headers["x-total-count"] == "100"
    communes = response.json()
    assert len(communes) == 100
    assert {commune["epci_siren"] for commune in communes} == {"200072460"}


def test_communes_limit_offset_and_total(client: TestClient) -> None:
    everything = client.get("/api/v1/territory/communes", params={"limit": 500})
    assert everything.headers["x-total-count"] == "362"
    assert len(everything.json()) == 362
    default = client.get("/api/v1/territory/communes")
    assert len(default.json()) == 50
    page = client.get("/api/v1/territory/communes", params={"limit": 10, "offset": 355})
    assert page.headers["x-total-count"] == "362"
    assert page.json() == everything.json()[355:]
    assert all(set(commune) == COMMUNE_KEYS for commune in page.json())


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"epci": "12345"}, ["query", "epci"]),
        ({"epci": "20007246x"}, ["query", "epci"]),
        ({"q": "x" * 101}, ["query", "q"]),
    ],
)
def test_communes_invalid_parameters(client: TestClient, params: dict[str, Any], location: list[str]) -> None:
    response = client.get("/api/v1/territory/communes", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 422
    assert [error["location"] for error in body["errors"]] == [location]


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_openapi_lists_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "Carreau"
    paths = set(spec["paths"])
    assert {"/api/v1/axes", "/api/v1/territory/epcis", "/api/v1/territory/communes", "/healthz"} <= paths


def test_api_docs_page(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "/openapi.json" in response.text
