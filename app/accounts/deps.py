"""Who is asking: from a bearer token (programs) or the session cookie (browsers).

Other domains' routes import these dependencies."""

from typing import Annotated

from fastapi import Depends, Request

from app.accounts import service
from app.accounts.policy import Principal
from app.accounts.sessions import SessionStore, session_state
from app.core.clock import NowDep
from app.core.db import UNSAFE_METHODS, SessionDep
from app.core.errors import SignInRequired
from app.core.i18n import N_
from app.core.ratelimit import RateLimiter

TOKEN_RATE = "300/minute"


class InvalidToken(SignInRequired):
    message = N_("Ce jeton d’accès n’est pas valable (inconnu ou révoqué).")


# The small dependencies are async: a sync one costs a trip to the thread pool on every request.
async def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


async def get_session_store(request: Request) -> SessionStore:
    return request.app.state.session_store


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
SessionStoreDep = Annotated[SessionStore, Depends(get_session_store)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def get_principal(request: Request, session: SessionDep, now: NowDep, limiter: RateLimiterDep) -> Principal | None:
    """The signed-in person with their roles, or None for a visitor (computed once per request)."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        raw = authorization[7:].strip()
        limiter.hit(TOKEN_RATE, "token", service.digest(raw)[:16])
        principal = service.principal_for_access_token(session, raw, now=now)
        if principal is None:
            raise InvalidToken()
        # The token's last use must be kept even when the route only reads (and never commits). A
        # writing request commits it with its own changes: committing here would end its writing
        # transaction (BEGIN IMMEDIATE on SQLite) before the route runs, whose writes would then
        # start from a read and fail with "database is locked" beside concurrent writers.
        if request.method not in UNSAFE_METHODS:
            session.commit()
    else:
        user_id = session_state(request).user_id
        principal = service.principal_for(session, user_id) if user_id is not None else None
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(get_principal)]


async def require_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise SignInRequired()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


WRITE_RATES = {"proposal": "10/hour", "comment": "30/hour", "report": "30/hour", "vote": "120/minute",
               "evaluation": "60/hour"}


def limit_writes(limiter: RateLimiter, principal: Principal, kind: str) -> None:
    """Per-person limits on writes, generous for people, tight for scripts."""
    limiter.hit(WRITE_RATES[kind], "write", kind, str(principal.id))
