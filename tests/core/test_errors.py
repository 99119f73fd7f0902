from collections.abc import Iterator
from http import HTTPStatus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.errors import PROBLEM_JSON, Conflict, DomainError, Forbidden, NotFound, problem
from app.core.settings import Settings
from app.main import create_app
from tests.support import use_session


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


class OutOfStock(DomainError):
    status_code = 422
    message = "Il n’y en a plus."


@pytest.fixture
def failing_app(settings: Settings, session: Session) -> Iterator[FastAPI]:
    """The application with test-only routes that fail in every way a route can fail."""
    app = create_app(settings)
    use_session(app, session)

    @app.get("/api/v1/test/conflict")
    def _conflict() -> None:
        raise Conflict()

    @app.get("/api/v1/test/forbidden")
    def _forbidden() -> None:
        raise Forbidden("Réservé aux administrateurs.")

    @app.get("/api/v1/test/custom")
    def _custom() -> None:
        raise OutOfStock()

    @app.get("/api/v1/test/crash")
    def _api_crash() -> None:
        raise RuntimeError("boom")

    @app.get("/test/crash")
    def _page_crash() -> None:
        raise RuntimeError("boom")

    @app.get("/test/missing")
    def _page_missing() -> None:
        raise NotFound()

    yield app
    app.state.engine.dispose()


@pytest.fixture
def failing_client(failing_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        yield client


def test_problem_document() -> None:
    response = problem(409, "Déjà fait.", extra_field=[1])
    assert response.status_code == 409
    assert response.media_type == PROBLEM_JSON
    assert response.body == (
        b'{"type":"about:blank","title":"Conflict","status":409,"detail":"D\xc3\xa9j\xc3\xa0 fait.",'
        b'"extra_field":[1]}'
    )


def test_domain_error_messages() -> None:
    assert str(NotFound()) == "Cette page n’existe pas."
    assert NotFound("Autre chose.").message == "Autre chose."
    assert (NotFound.status_code, Forbidden.status_code, Conflict.status_code) == (404, 403, 409)


def test_unknown_api_path_is_a_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert body == {
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "Cette page n’existe pas.",
    }


def test_wrong_method_on_the_api_is_a_problem(client: TestClient) -> None:
    body = assert_problem(client.post("/api/v1/axes"), 405)
    assert body["title"] == "Method Not Allowed"


def test_validation_error_lists_the_errors(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/territory/communes", params={"limit": "many"}), 422)
    assert body["title"] == HTTPStatus(422).phrase  # "Unprocessable Content" from Python 3.13
    assert body["detail"] == "Certains paramètres de la demande ne sont pas valides."
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["location"] == ["query", "limit"]
    assert isinstance(error["message"], str)


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/api/v1/test/conflict", 409, "Cette action est en conflit avec l’état actuel."),
        ("/api/v1/test/forbidden", 403, "Réservé aux administrateurs."),
        ("/api/v1/test/custom", 422, "Il n’y en a plus."),
    ],
)
def test_domain_error_in_the_api_is_a_problem(
    failing_client: TestClient, path: str, status: int, detail: str
) -> None:
    assert assert_problem(failing_client.get(path), status)["detail"] == detail


def test_crash_in_the_api_is_a_problem(failing_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = assert_problem(failing_client.get("/api/v1/test/crash"), 500)
    assert body["title"] == "Internal Server Error"
    assert "boom" not in body["detail"]
    assert any(record.name == "carreau" and record.exc_info for record in caplog.records)


def test_crash_on_a_page_is_an_html_page(failing_client: TestClient) -> None:
    response = failing_client.get("/test/crash")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Une erreur inattendue s’est produite" in response.text
    assert "boom" not in response.text
    assert "<html" in response.text


def test_domain_error_on_a_page_is_an_html_page(failing_client: TestClient) -> None:
    response = failing_client.get("/test/missing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Cette page n’existe pas" in response.text


def test_unknown_page_is_a_french_404_page(client: TestClient) -> None:
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Cette page n’existe pas" in response.text
    assert "<html" in response.text
    assert 'lang="fr"' in response.text


def test_unknown_page_fragment_for_htmx(client: TestClient) -> None:
    response = client.get("/nulle-part", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "Cette page n’existe pas" in response.text
    assert "<html" not in response.text


def test_invalid_page_parameter_is_a_400_page(client: TestClient) -> None:
    response = client.get("/territoire", params={"page": "0"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "Certains paramètres de la demande ne sont pas valides" in response.text
