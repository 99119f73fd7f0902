"""Pages of notifications: the person's list (newest first, unread marked, mark read), their email
preference (immediate, daily digest, never) and the one-click unsubscribe link of every email.

The follow buttons live on the consultation and proposal pages (app.proposals.routes), which can
check that the person may see what they follow."""

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection

from app.accounts.deps import CurrentPrincipal
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.i18n import gettext as _
from app.core.templating import render
from app.notifications import service
from app.notifications.models import EmailFrequency

router = APIRouter(include_in_schema=False)

PER_PAGE = 20
TOKEN_MAX = 120
Token = Annotated[str, Path(max_length=TOKEN_MAX)]


def unread_count(connection: HTTPConnection) -> int:
    """The header's count of unread notifications (a template global): one COUNT query, only for
    someone signed in."""
    state = connection.scope.get("carreau.session")
    if state is None or state.user_id is None:
        return 0
    with connection.app.state.session_factory() as session:
        return service.unread_count(session, state.user_id)


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = {"message": message, "kind": "success"}


def _back_to_list(page: int) -> RedirectResponse:
    return RedirectResponse("/notifications" + (f"?page={page}" if page > 1 else ""), status_code=303)


@router.get("/notifications", response_class=HTMLResponse, name="notifications:list")
def list_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
              page: Annotated[int, Query(ge=1, le=10000)] = 1) -> HTMLResponse:
    listing = service.list_for(session, principal.id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render(request, "notifications/list.html", listing=listing, page=page,
                  page_count=max(1, -(-listing.total // PER_PAGE)), frequency=service.email_frequency(
                      session, principal.id))


@router.post("/notifications/{notification_id}/lue", name="notifications:read")
def mark_read(request: Request, notification_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
              page: Annotated[int, Form(ge=1, le=10000)] = 1) -> Response:
    notification = service.mark_read(session, principal.id, notification_id, now=now)
    session.commit()
    _flash(request, _("Notification « %(title)s » marquée comme lue.", title=notification.title))
    return _back_to_list(page)


@router.post("/notifications/tout-lire", name="notifications:read_all")
def mark_all_read(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> Response:
    count = service.mark_all_read(session, principal.id, now=now)
    session.commit()
    _flash(request, _("Toutes vos notifications sont marquées comme lues.") if count else
           _("Vous n’aviez aucune notification non lue."))
    return _back_to_list(1)


# --- email preference


FREQUENCIES = tuple(frequency.value for frequency in EmailFrequency)


@router.get("/notifications/preferences", response_class=HTMLResponse, name="notifications:preferences")
def preferences_page(request: Request, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    return render(request, "notifications/preferences.html", frequency=service.email_frequency(session, principal.id),
                  errors={}, has_email=bool(principal.user.email))


@router.post("/notifications/preferences", response_class=HTMLResponse)
def save_preferences(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                     frequency: Annotated[str, Form(max_length=20)] = "") -> Response:
    if frequency not in FREQUENCIES:
        return render(request, "notifications/preferences.html", status_code=422,
                      frequency=service.email_frequency(session, principal.id), has_email=bool(principal.user.email),
                      errors={"frequency": [_("Choisissez quand recevoir les courriels.")]})
    service.set_email_frequency(session, principal.id, EmailFrequency(frequency), now=now)
    session.commit()
    _flash(request, _("Votre choix est enregistré."))
    return RedirectResponse("/notifications/preferences", status_code=303)


# --- one-click unsubscribe (RFC 8058): the signed token in the link is the proof; no sign-in, no
# CSRF token (app.core.csrf lets these POSTs through: a mail client sends them without cookies).


def _secret(request: Request) -> str:
    return request.app.state.settings.secret_key


@router.get("/notifications/desabonnement/{token}", response_class=HTMLResponse, name="notifications:unsubscribe")
def unsubscribe_page(request: Request, token: Token, session: SessionDep) -> HTMLResponse:
    # A GET only shows a button: mail scanners that open links must not unsubscribe anyone.
    service.check_unsubscribe_token(session, _secret(request), token)
    return render(request, "notifications/unsubscribe.html", token=token, done=False)


@router.post("/notifications/desabonnement/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: Token, session: SessionDep, now: NowDep) -> HTMLResponse:
    service.unsubscribe(session, _secret(request), token, now=now)
    session.commit()
    return render(request, "notifications/unsubscribe.html", token=token, done=True)
