"""OpenID Connect sign-in (Authlib's Starlette client), written for FranceConnect v2 and any other
provider: 32+ character state and nonce kept in the server-side session (so the flow is bound to
the browser that started it), PKCE when the provider offers it, the issuer and `acr` checked, a
userinfo answer that may be a signed JWT, and logout at the provider."""

import logging
import secrets
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from app.core.errors import DomainError
from app.core.i18n import N_
from app.core.settings import OidcProvider, Settings

logger = logging.getLogger("carreau.oidc")
SIGNED_ALGORITHMS = ["ES256", "RS256"]  # never HS*, never "none"
ACCESS_TOKEN_LEEWAY_S = 5


class OidcLoginFailed(DomainError):
    status_code = 400
    message = N_("La connexion n’a pas abouti et personne n’a été connecté. Vous pouvez réessayer.")


class UnknownProvider(DomainError):
    status_code = 404
    message = N_("Ce service de connexion n’est pas proposé ici.")


def build_oauth(settings: Settings) -> OAuth:
    oauth = OAuth()
    for provider in settings.oidc_providers:
        oauth.register(
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret.get_secret_value(),
            server_metadata_url=provider.metadata_url,
            # leeway: Authlib treats an access token as expired `leeway` seconds early (60 by
            # default), and FranceConnect's and ProConnect's live only 60 s: with the default,
            # every userinfo call would be refused before it is made.
            client_kwargs={"scope": provider.scopes, "token_endpoint_auth_method": "client_secret_post",
                           "timeout": 10, "leeway": ACCESS_TOKEN_LEEWAY_S},
        )
    return oauth


def provider_named(settings: Settings, name: str) -> OidcProvider:
    for provider in settings.oidc_providers:
        if provider.name == name:
            return provider
    raise UnknownProvider()


def _client(oauth: OAuth, provider: OidcProvider) -> StarletteOAuth2App:
    client = oauth.create_client(provider.name)
    assert isinstance(client, StarletteOAuth2App)
    return client


async def _metadata(client: StarletteOAuth2App, provider: OidcProvider) -> dict[str, Any]:
    try:
        metadata = await client.load_server_metadata()
    except (httpx2.HTTPError, ValueError) as error:
        logger.warning("provider %s: discovery failed: %s", provider.name, error)
        raise OidcLoginFailed(N_("Le service de connexion ne répond pas. Réessayez dans un moment.")) from error
    # Mix-up defence: the provider must call itself what we configured.
    if str(metadata.get("issuer", "")).rstrip("/") != provider.issuer.rstrip("/"):
        logger.warning("provider %s: issuer %r does not match", provider.name, metadata.get("issuer"))
        raise OidcLoginFailed()
    # Authlib accepts whatever ID-token algorithms the provider announces: keep the asymmetric ones.
    announced = metadata.get("id_token_signing_alg_values_supported") or []
    client.server_metadata["id_token_signing_alg_values_supported"] = (
        [alg for alg in announced if alg in SIGNED_ALGORITHMS] or SIGNED_ALGORITHMS
    )
    return dict(metadata)


async def login_redirect(oauth: OAuth, provider: OidcProvider, request: Request, redirect_uri: str) -> Response:
    client = _client(oauth, provider)
    metadata = await _metadata(client, provider)
    use_pkce = provider.pkce
    if use_pkce is None:
        use_pkce = "S256" in metadata.get("code_challenge_methods_supported", [])
    if use_pkce:
        client.client_kwargs["code_challenge_method"] = "S256"
    else:
        client.client_kwargs.pop("code_challenge_method", None)
    extra = {"acr_values": provider.acr_values} if provider.acr_values else {}
    return await client.authorize_redirect(
        request, redirect_uri, state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32), **extra
    )


async def _userinfo(client: StarletteOAuth2App, provider: OidcProvider, metadata: dict[str, Any],
                    token: dict[str, Any]) -> dict[str, Any]:
    endpoint = metadata.get("userinfo_endpoint")
    if not endpoint:
        return {}
    response = await client.get(endpoint, token=token)
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("application/jwt"):
        # FranceConnect v2 signs userinfo: verify it against the provider's keys.
        keys = KeySet.import_key_set(await client.fetch_jwk_set())
        decoded = jwt.decode(response.text, keys, algorithms=SIGNED_ALGORITHMS)
        claims = dict(decoded.claims)
        if claims.get("iss") and str(claims["iss"]).rstrip("/") != provider.issuer.rstrip("/"):
            raise OidcLoginFailed()
        audience = claims.get("aud")
        if audience and provider.client_id not in (audience if isinstance(audience, list) else [audience]):
            raise OidcLoginFailed()
        return claims
    return dict(response.json())


async def complete_login(oauth: OAuth, provider: OidcProvider, request: Request) -> tuple[dict[str, Any], str | None]:
    """Check the callback (state, code, ID token, nonce, issuer, acr) and return the person's claims
    with the ID token (kept for logout). Any failure signs nobody in."""
    client = _client(oauth, provider)
    metadata = await _metadata(client, provider)
    claims_options: dict[str, Any] = {"iss": {"essential": True, "value": metadata["issuer"]}}
    if provider.acceptable_acr:
        claims_options["acr"] = {"essential": True, "values": provider.acceptable_acr}
    try:
        token = await client.authorize_access_token(request, claims_options=claims_options)
        id_claims = dict(token.get("userinfo") or {})
        if not id_claims.get("sub"):
            raise OidcLoginFailed()
        userinfo = await _userinfo(client, provider, metadata, token)
    except OAuthError as error:
        logger.info("provider %s: callback refused: %s", provider.name, getattr(error, "error", error))
        if error.error == "access_denied":
            raise OidcLoginFailed(N_("Vous avez annulé la connexion : personne n’a été connecté.")) from error
        raise OidcLoginFailed() from error
    except (JoseError, AuthlibBaseError, httpx2.HTTPError, ValueError, KeyError, RuntimeError) as error:
        logger.info("provider %s: callback failed: %s", provider.name, type(error).__name__)
        raise OidcLoginFailed() from error
    if userinfo.get("sub") and str(userinfo["sub"]) != str(id_claims["sub"]):
        raise OidcLoginFailed()  # userinfo about someone else: never trust it
    claims = {**userinfo, "sub": id_claims["sub"], "acr": id_claims.get("acr")}
    return claims, token.get("id_token")


async def logout_redirect(oauth: OAuth, provider: OidcProvider, request: Request, *, id_token: str,
                          post_logout_redirect_uri: str) -> Response | None:
    """Send the browser to the provider's end-session endpoint, or None when it has none."""
    client = _client(oauth, provider)
    try:
        metadata = await _metadata(client, provider)
    except OidcLoginFailed:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    return await client.logout_redirect(
        request, post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token,
        state=secrets.token_urlsafe(32),
    )


async def check_logout_return(oauth: OAuth, provider: OidcProvider, request: Request) -> bool:
    try:
        await _client(oauth, provider).validate_logout_response(request)
    except OAuthError:
        return False
    return True
