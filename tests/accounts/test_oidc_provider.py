"""The test OpenID provider behaves as FranceConnect v2 does for Carreau: code flow with state, nonce,
acr_values and PKCE, client_secret_post, ES256 ID token, signed userinfo, RP-initiated logout."""

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.accounts.conftest import OidcProvider

SCOPE = "openid given_name family_name birthdate email"


@pytest.fixture
def op(oidc_provider: OidcProvider) -> Iterator[OidcProvider]:
    yield oidc_provider
    oidc_provider.reset()


@pytest.fixture
def browser() -> Iterator[httpx2.Client]:
    with httpx2.Client() as client:
        yield client


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _jwt_part(token: str, index: int) -> dict[str, Any]:
    return json.loads(_b64decode(token.split(".")[index]))


def _authorize(op: OidcProvider, browser: httpx2.Client, **extra: str) -> tuple[httpx2.URL, dict[str, str]]:
    """Start an authorization as Carreau will and follow it back to the RP. Returns the callback
    URL and the values the RP keeps in its session (state, nonce, code_verifier, redirect_uri)."""
    kept = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "code_verifier": secrets.token_urlsafe(48),
        "redirect_uri": op.redirect_uris[1],
    }
    challenge = base64.urlsafe_b64encode(hashlib.sha256(kept["code_verifier"].encode()).digest()).rstrip(b"=")
    params = {
        "response_type": "code",
        "client_id": op.client_id,
        "redirect_uri": kept["redirect_uri"],
        "scope": SCOPE,
        "state": kept["state"],
        "nonce": kept["nonce"],
        "acr_values": "eidas1",
        "prompt": "login",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        **extra,
    }
    url = httpx2.URL(op.metadata["authorization_endpoint"], params=params)
    return op.follow(browser, str(url)), kept


def _token(op: OidcProvider, code: str, kept: dict[str, str]) -> httpx2.Response:
    return httpx2.post(
        op.metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kept["redirect_uri"],
            "code_verifier": kept["code_verifier"],
            "client_id": op.client_id,
            "client_secret": op.client_secret,
        },
    )


def _login(op: OidcProvider, browser: httpx2.Client) -> tuple[dict[str, Any], dict[str, str]]:
    callback, kept = _authorize(op, browser)
    response = _token(op, callback.params["code"], kept)
    assert response.status_code == 200, response.text
    return response.json(), kept


def _userinfo(op: OidcProvider, token: dict[str, Any]) -> httpx2.Response:
    return httpx2.get(op.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"})


def _keys(op: OidcProvider) -> KeySet:
    return KeySet.import_key_set(httpx2.get(op.metadata["jwks_uri"]).json())


def test_discovery_announces_what_carreau_uses(op: OidcProvider) -> None:
    metadata = op.metadata
    assert metadata["issuer"] == op.issuer
    for endpoint in ("authorization", "token", "userinfo", "end_session"):
        assert metadata[f"{endpoint}_endpoint"].startswith(f"{op.issuer}/")
    assert metadata["jwks_uri"] == f"{op.issuer}/jwks"
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    assert set(metadata["acr_values_supported"]) == {"eidas1", "eidas2", "eidas3"}
    assert {"given_name", "family_name", "birthdate", "identite_pivot"} <= set(metadata["scopes_supported"])
    assert {key["alg"] for key in httpx2.get(metadata["jwks_uri"]).json()["keys"]} == {"ES256", "RS256"}


def test_authorization_code_flow(op: OidcProvider, browser: httpx2.Client) -> None:
    callback, kept = _authorize(op, browser)
    assert str(callback.copy_with(query=None)) == kept["redirect_uri"]
    assert callback.params["state"] == kept["state"]
    assert callback.params["iss"] == op.issuer
    assert callback.params["code"]

    response = _token(op, callback.params["code"], kept)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"].lower() == "bearer"
    assert _jwt_part(token["id_token"], 0)["alg"] == "ES256"
    id_token = jwt.decode(token["id_token"], _keys(op), algorithms=["ES256"]).claims
    assert id_token["iss"] == op.issuer
    assert id_token["aud"] == op.client_id
    assert id_token["nonce"] == kept["nonce"]
    assert id_token["acr"] == "eidas1"
    assert id_token["sub"] == "angela"

    userinfo = _userinfo(op, token)
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.headers["content-type"].startswith("application/jwt")
    assert _jwt_part(userinfo.text, 0)["alg"] == "ES256"
    claims = jwt.decode(userinfo.text, _keys(op), algorithms=["ES256"]).claims
    assert claims["aud"] == op.client_id
    assert {key: claims[key] for key in ("sub", "given_name", "family_name", "birthdate", "email")} == {
        "sub": "angela",
        "given_name": "Angela Claire Louise",
        "family_name": "DUBOIS",
        "birthdate": "1962-08-24",
        "email": "angela@example.fr",
    }
    assert "birthplace" not in claims  # not requested


def test_a_code_is_used_once(op: OidcProvider, browser: httpx2.Client) -> None:
    callback, kept = _authorize(op, browser)
    assert _token(op, callback.params["code"], kept).status_code == 200
    replay = _token(op, callback.params["code"], kept)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_a_refusal_comes_back_on_the_redirect_uri(op: OidcProvider, browser: httpx2.Client) -> None:
    op.set_account(error="access_denied")
    callback, kept = _authorize(op, browser)
    assert str(callback.copy_with(query=None)) == kept["redirect_uri"]
    assert callback.params["error"] == "access_denied"
    assert callback.params["state"] == kept["state"]
    assert "code" not in callback.params


def test_the_account_and_its_acr_can_be_chosen(op: OidcProvider, browser: httpx2.Client) -> None:
    op.set_account(sub="bob", given_name="Bob", email=None, acr="eidas2")
    token, _kept = _login(op, browser)
    id_token = _jwt_part(token["id_token"], 1)
    assert (id_token["sub"], id_token["acr"]) == ("bob", "eidas2")
    userinfo = _userinfo(op, token)
    claims = _jwt_part(userinfo.text, 1)
    assert (claims["given_name"], claims["family_name"]) == ("Bob", "DUBOIS")  # merged over the default
    assert "email" not in claims


def test_a_short_nonce_is_refused_like_franceconnect(op: OidcProvider, browser: httpx2.Client) -> None:
    url = httpx2.URL(
        op.metadata["authorization_endpoint"],
        params={
            "client_id": op.client_id,
            "response_type": "code",
            "scope": "openid",
            "state": "s" * 32,
            "nonce": "n" * 20,
        },
    )
    response = browser.get(url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_logout_returns_to_the_rp_with_its_state(op: OidcProvider, browser: httpx2.Client) -> None:
    token, _kept = _login(op, browser)
    state = secrets.token_urlsafe(32)
    params = {
        "id_token_hint": token["id_token"],
        "state": state,
        "post_logout_redirect_uri": op.post_logout_redirect_uris[1],
    }
    logged_out = op.follow(browser, str(httpx2.URL(op.metadata["end_session_endpoint"], params=params)))
    assert str(logged_out.copy_with(query=None)) == op.post_logout_redirect_uris[1]
    assert logged_out.params["state"] == state
