"""/api/v1: the signed-in person (bearer token or session cookie) and residence verification."""

import re
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.accounts import service
from app.accounts.models import AccountTokenKind, Role, User, VerificationLevel
from app.audit import service as audit
from app.territory.models import Axis
from tests.factories import make_consultation

LIEVIN, LENS = "62510", "62498"
PROBLEM = "application/problem+json"
CSRF_FAILED = "La vérification de sécurité du formulaire a échoué. Rechargez la page, puis réessayez."


def now(app: FastAPI) -> datetime:
    return app.state.clock()


def person(session: Session, app: FastAPI, name: str = "Angela", *, commune: str | None = LIEVIN) -> User:
    user = service.create_user(session, display_name=name, commune_insee=commune, now=now(app))
    if commune:
        user.verification_level = VerificationLevel.declared
    session.commit()
    return user


def bearer(session: Session, app: FastAPI, user: User) -> dict[str, str]:
    _token, raw = service.create_access_token(session, user, name="script", now=now(app))
    session.commit()
    return {"Authorization": f"Bearer {raw}"}


def assert_problem(response: Response, status: int, detail: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["detail"] == detail
    assert body["type"] == "about:blank"
    return body


def axis_id(session: Session, number: int) -> int:
    axis = session.exec(select(Axis).where(Axis.number == number)).one()
    assert axis.id is not None
    return axis.id


def test_me(client: TestClient, session: Session, app: FastAPI) -> None:
    user = person(session, app)
    service.grant_role(session, user, Role.mediator, now=now(app), commune_insee=LIEVIN)
    service.grant_role(session, user, Role.evaluator, now=now(app), axis_id=axis_id(session, 3))
    consultation = make_consultation(session)
    service.grant_role(session, user, Role.moderator, now=now(app), consultation_id=consultation.id)
    service.grant_role(session, user, Role.admin, now=now(app))
    response = client.get("/api/v1/me", headers=bearer(session, app, user))
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id,
        "display_name": "Angela",
        "commune_insee": LIEVIN,
        "verification_level": "declared",
        "roles": [  # resident first, then the grants
            {"role": "resident", "axis": None, "consultation": None, "commune": None},
            {"role": "admin", "axis": None, "consultation": None, "commune": None},
            {"role": "evaluator", "axis": axis_id(session, 3), "consultation": None, "commune": None},
            {"role": "mediator", "axis": None, "consultation": None, "commune": LIEVIN},
            {"role": "moderator", "axis": None, "consultation": consultation.id, "commune": None},
        ],
    }


def test_me_of_a_newcomer(client: TestClient, session: Session, app: FastAPI) -> None:
    user = person(session, app, "Bruno", commune=None)
    assert client.get("/api/v1/me", headers=bearer(session, app, user)).json() == {
        "id": user.id, "display_name": "Bruno", "commune_insee": None, "verification_level": "none",
        "roles": [{"role": "resident", "axis": None, "consultation": None, "commune": None}],
    }


def test_visitors_get_401(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    body = assert_problem(response, 401, "Connectez-vous pour continuer.")
    assert body["title"] == "Unauthorized"
    assert response.headers["www-authenticate"] == 'Bearer realm="carreau"'


def test_unknown_token_gets_401(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer carreau_inconnu"})
    assert_problem(response, 401, "Ce jeton d’accès n’est pas valable (inconnu ou révoqué).")


def test_export(client: TestClient, session: Session, app: FastAPI) -> None:
    user = person(session, app)
    headers = bearer(session, app, user)
    raw = headers["Authorization"].removeprefix("Bearer ")
    response = client.get("/api/v1/me/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["profile"]["id"] == user.id
    assert data["profile"]["commune_insee"] == LIEVIN
    assert {"generated_at", "profile", "identities", "roles", "sessions", "access_tokens"} <= set(data)
    (token,) = data["access_tokens"]
    assert set(token) == {"name", "prefix", "created_at", "last_used_at", "revoked_at"}
    assert token["last_used_at"] is not None  # this very request
    assert raw not in response.text
    assert service.digest(raw) not in response.text


def test_delete_me(client: TestClient, session: Session, app: FastAPI) -> None:
    user = person(session, app)
    headers = bearer(session, app, user)
    response = client.delete("/api/v1/me", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get("/api/v1/me", headers=headers), 401,
                   "Ce jeton d’accès n’est pas valable (inconnu ou révoqué).")
    session.expire_all()
    erased = session.get(User, user.id)
    assert erased is not None
    assert erased.erased_at is not None
    assert erased.display_name is None
    actions = [e.action for e in audit.entries_for(session, target_type="user", target_id=user.id)]
    assert actions == ["account.erased"]


def test_session_cookie_requests_need_the_csrf_header(client: TestClient, session: Session, app: FastAPI) -> None:
    """A browser calls the API with its cookie: unsafe requests must carry the CSRF token."""
    user = person(session, app)
    raw = service.issue_account_token(session, user, AccountTokenKind.confirm_email, now=now(app),
                                      ttl=service.CONFIRMATION_TTL)
    session.commit()
    page = client.get("/inscription/confirmer", params={"jeton": raw})
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    csrf = found.group(1)
    signed_in = client.post("/inscription/confirmer", data={"jeton": raw, "csrf_token": csrf}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert client.get("/api/v1/me").json()["id"] == user.id
    forged = client.delete("/api/v1/me")
    assert_problem(forged, 403, CSRF_FAILED)
    assert client.delete("/api/v1/me", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401  # the session ended with the account


# --- residence verification


def verify(client: TestClient, user_id: int, headers: dict[str, str] | None = None) -> Response:
    return client.post(f"/api/v1/users/{user_id}/residence-verification", headers=headers or {})


def mediator_of(session: Session, app: FastAPI, commune: str) -> User:
    mediator = person(session, app, f"Médiatrice {commune}", commune=commune)
    service.grant_role(session, mediator, Role.mediator, now=now(app), commune_insee=commune)
    session.commit()
    return mediator


def test_a_mediator_of_the_commune_verifies_residence(client: TestClient, session: Session, app: FastAPI) -> None:
    resident = person(session, app)
    mediator = mediator_of(session, app, LIEVIN)
    response = verify(client, resident.id or 0, bearer(session, app, mediator))
    assert response.status_code == 200
    assert response.json() == {"id": resident.id, "display_name": "Angela", "commune_insee": LIEVIN,
                               "verification_level": "verified"}
    session.refresh(resident)
    assert resident.verification_level == VerificationLevel.verified
    assert resident.verified_by_id == mediator.id
    (entry,) = audit.entries_for(session, target_type="user", target_id=resident.id)
    assert (entry.action, entry.actor_id, entry.channel) == ("residence.verified", mediator.id, "assisted")


def test_others_may_not_verify_residence(client: TestClient, session: Session, app: FastAPI) -> None:
    resident = person(session, app)
    refusal = "Seuls les médiateurs de la commune de cette personne peuvent vérifier sa résidence."
    for someone in (person(session, app, "Voisine"), mediator_of(session, app, LENS)):
        assert_problem(verify(client, resident.id or 0, bearer(session, app, someone)), 403, refusal)
    session.refresh(resident)
    assert resident.verification_level == VerificationLevel.declared
    assert audit.entries_for(session, target_type="user", target_id=resident.id) == []


def test_verifying_an_unknown_person(client: TestClient, session: Session, app: FastAPI) -> None:
    headers = bearer(session, app, mediator_of(session, app, LIEVIN))
    assert_problem(verify(client, 999_999, headers), 404, "Cette personne n’existe pas.")


def test_visitors_may_not_verify_residence(client: TestClient, session: Session, app: FastAPI) -> None:
    resident = person(session, app)
    assert_problem(verify(client, resident.id or 0), 401, "Connectez-vous pour continuer.")


def test_openapi_lists_the_accounts_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/v1/me"]) == {"get", "delete"}
    assert "get" in paths["/api/v1/me/export"]
    assert "post" in paths["/api/v1/users/{user_id}/residence-verification"]
    schema = paths["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"] == "#/components/schemas/MeOut"
    assert not any(path.startswith(("/compte", "/connexion", "/inscription")) for path in paths)
