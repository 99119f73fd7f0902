"""/api/v1: the signed-in person (session cookie with CSRF header, or bearer token)."""

from typing import Any

from fastapi import APIRouter, Request, Response

from app.accounts import service
from app.accounts.deps import CurrentPrincipal, SessionStoreDep
from app.accounts.policy import Principal
from app.accounts.schemas import MeOut, ResidentOut, RoleOut
from app.accounts.sessions import end_session
from app.core.clock import NowDep
from app.core.db import SessionDep

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def me_of(principal: Principal) -> MeOut:
    user = principal.user
    roles = [RoleOut(role="resident")] + [
        RoleOut(role=g.role, axis=g.axis_id, consultation=g.consultation_id, commune=g.commune_insee)
        for g in principal.grants
    ]
    return MeOut(id=principal.id, display_name=service.display_name_of(user), commune_insee=user.commune_insee,
                 verification_level=user.verification_level, roles=roles)


@router.get("/me", response_model=MeOut, summary="The signed-in person and their roles")
def me(principal: CurrentPrincipal) -> MeOut:
    return me_of(principal)


@router.get("/me/export", summary="Everything Carreau holds about the signed-in person (JSON)")
def export_me(session: SessionDep, now: NowDep, principal: CurrentPrincipal, store: SessionStoreDep,
              response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"
    return service.export_data(session, store, principal.user, now=now)


@router.delete("/me", status_code=204, summary="Erase the signed-in person's account")
def erase_me(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
             store: SessionStoreDep) -> Response:
    service.erase_account(session, store, principal.user, now=now)
    session.commit()
    end_session(request)
    return Response(status_code=204)


@router.post("/users/{user_id}/residence-verification", response_model=ResidentOut,
             summary="Record that a mediator checked this resident's residence in person")
def verify_residence(user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> ResidentOut:
    user = service.get_user(session, user_id)
    service.verify_residence(session, principal, user, now=now)
    session.commit()
    assert user.id is not None
    return ResidentOut(id=user.id, display_name=service.display_name_of(user), commune_insee=user.commune_insee,
                       verification_level=user.verification_level)
