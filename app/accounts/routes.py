"""Pages: sign-in (OpenID Connect and local), sign-up, password reset, onboarding, the account
page with the person's data rights, and sign-out."""

import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from app.accounts import oidc, service
from app.accounts.deps import (
    CurrentPrincipal,
    OptionalPrincipal,
    RateLimiterDep,
    SessionStoreDep,
    client_address,
)
from app.accounts.models import User
from app.accounts.policy import Principal
from app.accounts.sessions import begin_user_session, current_session_key, end_session
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import DomainError
from app.core.i18n import gettext as _
from app.core.mail import send_mail
from app.core.settings import Settings
from app.core.templating import render
from app.territory import service as territory

router = APIRouter(include_in_schema=False)

SIGN_IN_RATE_PER_ADDRESS = "20/minute"
SIGN_IN_RATE_PER_ACCOUNT = "5/minute"
SIGN_UP_RATE = "10/hour"
RESET_RATE_PER_ADDRESS = "10/hour"
RESET_RATE_PER_ACCOUNT = "3/hour"
FLASH_KEY = "flash"


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def safe_next(target: str | None) -> str:
    """Only paths on this site (an open redirect would lend our name to phishing)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return "/"  # browsers drop tabs and new lines: "/\t/evil.example" would be "//evil.example"
    return target


def flash(request: Request, message: str, kind: str = "success") -> None:
    request.session[FLASH_KEY] = {"message": message, "kind": kind}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@dataclass(frozen=True)
class SignedIn:
    """What a new session needs to know of the person (read before their database session closes)."""

    user_id: int
    name: str
    needs_onboarding: bool

    @classmethod
    def of(cls, user: User) -> "SignedIn":
        assert user.id is not None
        return cls(user.id, service.display_name_of(user), user.needs_onboarding)


def _after_sign_in(signed_in: SignedIn, next_url: str) -> str:
    if signed_in.needs_onboarding:
        return "/compte/bienvenue?" + urlencode({"next": next_url})
    return next_url


def _start_session(request: Request, signed_in: SignedIn, *, provider: str | None = None,
                   id_token: str | None = None) -> None:
    begin_user_session(request, signed_in.user_id)
    request.session["name"] = signed_in.name
    if provider:
        request.session["oidc"] = {"provider": provider, "id_token": id_token}


def _mail(request: Request, *, to: str, subject: str, body: str) -> None:
    send_mail(_settings(request), to=to, subject=subject, body=body)


def _link(request: Request, path: str, **params: str) -> str:
    return _settings(request).base_url.rstrip("/") + path + ("?" + urlencode(params) if params else "")


# --- sign-in


@router.get("/connexion", response_class=HTMLResponse, name="accounts:sign_in")
def sign_in_page(request: Request, principal: OptionalPrincipal,
                 next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    if principal is not None:
        return _redirect(safe_next(next))
    return render(request, "accounts/sign_in.html", next=safe_next(next), email="", errors={})


@router.post("/connexion", response_class=HTMLResponse)
def sign_in(request: Request, session: SessionDep, now: NowDep, limiter: RateLimiterDep,
            email: Annotated[str, Form(max_length=254)] = "", password: Annotated[str, Form(max_length=1024)] = "",
            next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    settings = _settings(request)
    if not settings.local_accounts_enabled:
        raise DomainError(_("La connexion par adresse électronique n’est pas proposée ici."))
    limiter.hit(SIGN_IN_RATE_PER_ADDRESS, "sign-in", client_address(request))
    limiter.hit(SIGN_IN_RATE_PER_ACCOUNT, "sign-in", service.normalize_email(email))
    try:
        user = service.authenticate(session, email=email, password=password, now=now)
    except (service.InvalidCredentials, service.EmailNotConfirmed) as error:
        return render(request, "accounts/sign_in.html", status_code=error.status_code, next=safe_next(next),
                      email=email, errors={"form": [_(error.message)]})
    session.commit()
    signed_in = SignedIn.of(user)
    _start_session(request, signed_in)
    return _redirect(_after_sign_in(signed_in, safe_next(next)))


@router.post("/deconnexion", name="accounts:sign_out")
async def sign_out(request: Request) -> Response:
    oidc_data = request.session.get("oidc") or {}
    end_session(request)
    settings = _settings(request)
    if oidc_data.get("id_token"):
        try:
            provider = oidc.provider_named(settings, oidc_data.get("provider", ""))
        except oidc.UnknownProvider:
            provider = None
        if provider is not None:
            response = await oidc.logout_redirect(
                request.app.state.oauth, provider, request, id_token=oidc_data["id_token"],
                post_logout_redirect_uri=_link(request, f"/auth/{provider.name}/logged-out"),
            )
            if response is not None:
                return response
    flash(request, _("Vous êtes déconnecté·e."))
    return _redirect("/")


# --- OpenID Connect


@router.get("/auth/{name}/login", name="accounts:oidc_login")
async def oidc_login(request: Request, name: str, next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    provider = oidc.provider_named(_settings(request), name)
    request.session["after_sign_in"] = safe_next(next)
    return await oidc.login_redirect(request.app.state.oauth, provider, request,
                                     _link(request, f"/auth/{provider.name}/callback"))


@router.get("/auth/{name}/callback", name="accounts:oidc_callback")
async def oidc_callback(request: Request, name: str, now: NowDep) -> Response:
    settings = _settings(request)
    provider = oidc.provider_named(settings, name)
    next_url = safe_next(request.session.pop("after_sign_in", "/"))
    try:
        claims, id_token = await oidc.complete_login(request.app.state.oauth, provider, request)
    except oidc.OidcLoginFailed as error:
        return render(request, "accounts/sign_in_failed.html", status_code=400, provider=provider,
                      detail=_(error.message))

    def sign_in_in_database() -> SignedIn:
        with request.app.state.session_factory() as session:
            user = service.sign_in_with_oidc(session, provider, provider.issuer, claims, now=now)
            session.commit()
            return SignedIn.of(user)

    signed_in = await run_in_threadpool(sign_in_in_database)
    _start_session(request, signed_in, provider=provider.name, id_token=id_token)
    return _redirect(_after_sign_in(signed_in, next_url))


@router.get("/auth/{name}/logged-out", name="accounts:oidc_logged_out")
async def oidc_logged_out(request: Request, name: str) -> Response:
    provider = oidc.provider_named(_settings(request), name)
    if await oidc.check_logout_return(request.app.state.oauth, provider, request):
        flash(request, _("Vous êtes déconnecté·e, ici et chez %(provider)s.", provider=provider.display_name))
    else:  # a return we did not ask for: say only what is sure
        flash(request, _("Vous êtes déconnecté·e."))
    return _redirect("/")


# --- local sign-up, confirmation, password reset


def _local_accounts_only(request: Request) -> None:
    if not _settings(request).local_accounts_enabled:
        raise DomainError(_("La création de compte par adresse électronique n’est pas proposée ici."))


@router.get("/inscription", response_class=HTMLResponse, name="accounts:sign_up")
def sign_up_page(request: Request) -> Response:
    _local_accounts_only(request)
    return render(request, "accounts/sign_up.html", values={}, errors={})


@router.post("/inscription", response_class=HTMLResponse)
def sign_up(request: Request, session: SessionDep, now: NowDep, limiter: RateLimiterDep,
            email: Annotated[str, Form(max_length=254)] = "", display_name: Annotated[str, Form(max_length=200)] = "",
            password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    _local_accounts_only(request)
    limiter.hit(SIGN_UP_RATE, "sign-up", client_address(request))
    values = {"email": email, "display_name": display_name}
    try:
        created = service.sign_up(session, email=email, display_name=display_name, password=password, now=now)
    except service.InvalidInput as error:
        return render(request, "accounts/sign_up.html", status_code=422, values=values,
                      errors={field: [_(m) for m in messages] for field, messages in error.errors.items()})
    session.commit()
    address = service.normalize_email(email)
    if created is None:
        _mail(request, to=address, subject=_("Votre compte Carreau"), body=_(
            "Quelqu’un (peut-être vous) a voulu créer un compte avec cette adresse, qui en a déjà un.\n\n"
            "Si c’était vous, connectez-vous ou choisissez un nouveau mot de passe : %(link)s\n\n"
            "Sinon, vous pouvez ignorer ce message.", link=_link(request, "/mot-de-passe-oublie")))
    else:
        _user, token = created
        _mail(request, to=address, subject=_("Confirmez votre adresse électronique"), body=_(
            "Bonjour,\n\nPour activer votre compte Carreau, ouvrez ce lien (valable 48 heures) :\n%(link)s\n\n"
            "Si vous n’avez rien demandé, ignorez ce message.", link=_link(request, "/inscription/confirmer",
                                                                          jeton=token)))
    return render(request, "accounts/check_mail.html", email=address)


@router.get("/inscription/confirmer", response_class=HTMLResponse, name="accounts:confirm")
def confirm_page(request: Request, jeton: Annotated[str, Query(max_length=200)] = "") -> Response:
    # A GET only shows a button: mail scanners that open links must not use up the token.
    return render(request, "accounts/confirm.html", token=jeton)


@router.post("/inscription/confirmer", response_class=HTMLResponse)
def confirm(request: Request, session: SessionDep, now: NowDep,
            jeton: Annotated[str, Form(max_length=200)] = "") -> Response:
    user = service.confirm_email(session, jeton, now=now)
    session.commit()
    signed_in = SignedIn.of(user)
    _start_session(request, signed_in)
    flash(request, _("Votre adresse est confirmée. Bienvenue !"))
    return _redirect(_after_sign_in(signed_in, "/compte"))


@router.get("/mot-de-passe-oublie", response_class=HTMLResponse, name="accounts:forgot")
def forgot_page(request: Request) -> Response:
    _local_accounts_only(request)
    return render(request, "accounts/forgot.html", email="", sent=False)


@router.post("/mot-de-passe-oublie", response_class=HTMLResponse)
def forgot(request: Request, session: SessionDep, now: NowDep, limiter: RateLimiterDep,
           email: Annotated[str, Form(max_length=254)] = "") -> Response:
    _local_accounts_only(request)
    limiter.hit(RESET_RATE_PER_ADDRESS, "reset", client_address(request))
    limiter.hit(RESET_RATE_PER_ACCOUNT, "reset", service.normalize_email(email))
    found = service.request_password_reset(session, email=email, now=now)
    session.commit()
    # The same answer whether or not the address has an account, as fast: the mail goes after it
    # (sending it first made the answer slower for known addresses, which told them apart).
    response = render(request, "accounts/forgot.html", email=email, sent=True)
    if found is not None:
        user, token = found
        assert user.email is not None
        response.background = BackgroundTask(
            _mail, request, to=user.email, subject=_("Choisir un nouveau mot de passe"), body=_(
                "Bonjour,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure) :\n%(link)s\n\n"
                "Si vous n’avez rien demandé, ignorez ce message : votre mot de passe reste le même.",
                link=_link(request, "/mot-de-passe/nouveau", jeton=token)))
    return response


@router.get("/mot-de-passe/nouveau", response_class=HTMLResponse, name="accounts:reset")
def reset_page(request: Request, jeton: Annotated[str, Query(max_length=200)] = "") -> Response:
    return render(request, "accounts/reset.html", token=jeton, errors={})


@router.post("/mot-de-passe/nouveau", response_class=HTMLResponse)
def reset(request: Request, session: SessionDep, now: NowDep, store: SessionStoreDep,
          jeton: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    try:
        service.reset_password(session, store, jeton, password=password, now=now)
    except service.InvalidInput as error:
        return render(request, "accounts/reset.html", status_code=422, token=jeton,
                      errors={field: [_(m) for m in messages] for field, messages in error.errors.items()})
    session.commit()
    flash(request, _("Votre mot de passe est changé. Connectez-vous avec le nouveau."))
    return _redirect("/connexion")


# --- onboarding


def _commune_choices(session: Session, q: str, selected: str | None) -> list:
    results = territory.search_communes(session, text=q, limit=12).items if q.strip() else []
    if selected and all(c.insee_code != selected for c in results):
        chosen = territory.get_commune(session, selected)
        if chosen is not None:
            results = [chosen, *results]
    return results


@router.get("/compte/bienvenue", response_class=HTMLResponse, name="accounts:onboarding")
def onboarding_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
                    next: Annotated[str, Query(max_length=2000)] = "/",
                    q: Annotated[str, Query(max_length=100)] = "",
                    commune: Annotated[str, Query(max_length=5)] = "",
                    birth_year: Annotated[str, Query(max_length=4)] = "",
                    accept_terms: Annotated[str, Query(max_length=3)] = "") -> Response:
    user = principal.user
    selected = commune or user.commune_insee
    return render(request, "accounts/onboarding.html", fragment="accounts/_commune_choices.html", user=user,
                  next=safe_next(next), q=q, selected=selected, communes=_commune_choices(session, q, selected),
                  birth_year=birth_year or (user.birth_year or ""), accept_terms=bool(accept_terms), errors={})


@router.post("/compte/bienvenue", response_class=HTMLResponse)
def onboarding(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
               next: Annotated[str, Form(max_length=2000)] = "/", q: Annotated[str, Form(max_length=100)] = "",
               commune: Annotated[str, Form(max_length=5)] = "", birth_year: Annotated[str, Form(max_length=4)] = "",
               accept_terms: Annotated[str, Form(max_length=3)] = "",
               action: Annotated[str, Form(max_length=10)] = "") -> Response:
    user = principal.user
    if action == "search":  # the "Chercher" button without JavaScript: show the communes, keep the rest
        return render(request, "accounts/onboarding.html", user=user, next=safe_next(next), q=q, selected=commune,
                      communes=_commune_choices(session, q, commune), birth_year=birth_year,
                      accept_terms=accept_terms == "yes", errors={})
    year = int(birth_year) if birth_year.strip().isdigit() else None
    errors: dict[str, list[str]] = {}
    if birth_year.strip() and year is None:
        errors["birth_year"] = [_("Saisissez une année de naissance valide, par exemple 1985.")]
    try:
        if errors:
            raise service.InvalidInput(errors)
        service.complete_onboarding(session, user, commune_insee=commune, birth_year=year,
                                    accepts_terms=accept_terms == "yes",
                                    terms_version=_settings(request).terms_version, now=now)
    except service.InvalidInput as error:
        return render(request, "accounts/onboarding.html", status_code=422, user=user, next=safe_next(next), q=q,
                      selected=commune, communes=_commune_choices(session, q, commune), birth_year=birth_year,
                      accept_terms=accept_terms == "yes",
                      errors={field: [_(m) for m in messages] for field, messages in error.errors.items()})
    session.commit()
    flash(request, _("C’est fait : vous pouvez participer."))
    return _redirect(safe_next(next))


# --- the account page and personal data rights


def _account_page(request: Request, session: Session, principal: Principal, store: SessionStoreDep, *,
                  status_code: int = 200, errors: dict | None = None, new_token: str | None = None,
                  values: dict | None = None) -> Response:
    user = principal.user
    assert user.id is not None
    current_key = current_session_key(request)
    open_sessions = [(key == current_key, stored) for key, stored in store.list_for_user(user.id)]
    commune = territory.get_commune(session, user.commune_insee) if user.commune_insee else None
    blocked = user.is_blocked(request.app.state.clock())  # by a moderator: says until when and why
    return render(request, "accounts/account.html", status_code=status_code, user=user, principal=principal,
                  commune=commune, sessions=open_sessions, tokens=service.list_access_tokens(session, user),
                  new_token=new_token, errors=errors or {}, values=values or {}, blocked=blocked)


@router.get("/compte", response_class=HTMLResponse, name="accounts:account")
def account_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
                 store: SessionStoreDep) -> Response:
    return _account_page(request, session, principal, store)


@router.post("/compte/profil", response_class=HTMLResponse)
def update_profile(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                   store: SessionStoreDep, display_name: Annotated[str, Form(max_length=200)] = "",
                   commune: Annotated[str, Form(max_length=5)] = "",
                   birth_year: Annotated[str, Form(max_length=4)] = "") -> Response:
    year = int(birth_year) if birth_year.strip().isdigit() else None
    try:
        if birth_year.strip() and year is None:  # mistyped: say so rather than erase the known year
            message = _("Saisissez une année de naissance valide, par exemple 1985.")
            raise service.InvalidInput({"birth_year": [message]})
        service.update_profile(session, principal.user, display_name=display_name, commune_insee=commune,
                               birth_year=year, now=now)
    except service.InvalidInput as error:
        session.rollback()
        return _account_page(request, session, principal, store, status_code=422,
                             errors={f: [_(m) for m in ms] for f, ms in error.errors.items()},
                             values={"display_name": display_name, "birth_year": birth_year})
    session.commit()
    request.session["name"] = service.display_name_of(principal.user)
    flash(request, _("Votre profil est enregistré."))
    return _redirect("/compte")


@router.post("/compte/mot-de-passe", response_class=HTMLResponse)
def change_password(request: Request, session: SessionDep, principal: CurrentPrincipal, store: SessionStoreDep,
                    limiter: RateLimiterDep, current_password: Annotated[str, Form(max_length=1024)] = "",
                    new_password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    limiter.hit(SIGN_IN_RATE_PER_ACCOUNT, "password-change", str(principal.id))
    try:
        service.change_password(session, store, principal.user, current=current_password, new=new_password,
                                keep_session=current_session_key(request))
    except service.InvalidInput as error:
        return _account_page(request, session, principal, store, status_code=422,
                             errors={f: [_(m) for m in ms] for f, ms in error.errors.items()})
    session.commit()
    flash(request, _("Votre mot de passe est changé ; vos autres sessions sont fermées."))
    return _redirect("/compte")


@router.post("/compte/sessions/fermer", name="accounts:sign_out_everywhere")
def sign_out_everywhere(request: Request, principal: CurrentPrincipal, store: SessionStoreDep) -> Response:
    store.delete_for_user(principal.id)
    end_session(request)
    flash(request, _("Vous êtes déconnecté·e partout, y compris ici."))
    return _redirect("/connexion")


@router.post("/compte/jetons", response_class=HTMLResponse)
def create_token(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                 store: SessionStoreDep, name: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        _token, raw = service.create_access_token(session, principal.user, name=name, now=now)
    except service.InvalidInput as error:
        return _account_page(request, session, principal, store, status_code=422,
                             errors={f: [_(m) for m in ms] for f, ms in error.errors.items()})
    session.commit()
    # Shown once, on this answer only: never stored in clear, never put in a redirect.
    return _account_page(request, session, principal, store, new_token=raw)


@router.post("/compte/jetons/{token_id}/revoquer")
def revoke_token(request: Request, token_id: int, session: SessionDep, now: NowDep,
                 principal: CurrentPrincipal) -> Response:
    service.revoke_access_token(session, principal.user, token_id, now=now)
    session.commit()
    flash(request, _("Le jeton est révoqué : il ne permet plus d’accéder à l’API."))
    return _redirect("/compte#jetons")


@router.get("/compte/donnees.json", name="accounts:download")
def download_data(session: SessionDep, now: NowDep, principal: CurrentPrincipal, store: SessionStoreDep) -> Response:
    data = service.export_data(session, store, principal.user, now=now)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="carreau-mes-donnees.json"',
                 "Cache-Control": "no-store"},
    )


@router.get("/compte/supprimer", response_class=HTMLResponse, name="accounts:erase")
def erase_page(request: Request, principal: CurrentPrincipal) -> Response:
    return render(request, "accounts/erase.html", confirmation="", errors={})


@router.post("/compte/supprimer", response_class=HTMLResponse)
def erase(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal, store: SessionStoreDep,
          confirmation: Annotated[str, Form(max_length=50)] = "") -> Response:
    if confirmation.strip().upper() != _("SUPPRIMER"):
        return render(request, "accounts/erase.html", status_code=422, confirmation=confirmation,
                      errors={"confirmation": [_("Écrivez SUPPRIMER pour confirmer.")]})
    service.erase_account(session, store, principal.user, now=now)
    session.commit()
    end_session(request)
    flash(request, _("Votre compte est supprimé. Vos contributions restent, sans votre nom."))
    return _redirect("/")


@router.get("/conditions-utilisation", response_class=HTMLResponse, name="accounts:terms")
def terms_page(request: Request) -> Response:
    return render(request, "accounts/terms.html")
