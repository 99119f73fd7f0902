"""The account pages, as a person uses them: sign-up with the mail that really arrives (on a
loopback SMTP server), onboarding without JavaScript, sign-in, password reset, the account page
and its data rights."""

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, func, select

from app.accounts import service
from app.accounts.models import (
    AccessToken,
    AccountToken,
    AccountTokenKind,
    OidcIdentity,
    Role,
    RoleGrant,
    User,
    UserSession,
    VerificationLevel,
)
from app.audit import service as audit
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import SmtpServer
from tests.support import assert_fragment, assert_page, page_text, use_session

PASSPHRASE = "le terril de Loos-en-Gohelle au lever du jour"
NEW_PASSPHRASE = "les corons de Liévin sous la neige de janvier"
LIEVIN = "62510"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([^"]+)"')
LINK = re.compile(r"http://testserver/\S+")
NO_LONGER_VALID = "Ce lien n’est plus valable"
WRONG_CREDENTIALS = "Adresse électronique ou mot de passe incorrect."


def build_app(settings: Settings, session: Session, smtp_server: SmtpServer, **changes: Any) -> FastAPI:
    update = {**smtp_server.settings, "base_url": "http://testserver", **changes}
    app = create_app(settings.model_copy(update=update))
    use_session(app, session)
    return app


@pytest.fixture
def app(settings: Settings, session: Session, smtp_server: SmtpServer) -> Iterator[FastAPI]:
    """The application, sending its mail to `smtp_server`, with links to http://testserver."""
    app = build_app(settings, session, smtp_server)
    yield app
    app.state.engine.dispose()


# --- helpers: a browser that reads the forms it fills in, and the mail it receives


def csrf_of(response: Response) -> str:
    found = CSRF_FIELD.search(response.text) or CSRF_HEADER.search(response.text)
    assert found, "no CSRF token on this page"
    return found.group(1)


def submit(client: TestClient, page: str, data: dict[str, str], *, action: str | None = None) -> Response:
    """Open `page`, then send its form (to `action`, by default the page's path) with `data` and the
    CSRF token the page handed out. Redirects are not followed, so that tests can check them."""
    opened = client.get(page)
    assert opened.status_code == 200, opened.text[:500]
    target = action or urlsplit(page).path
    return client.post(target, data={**data, "csrf_token": csrf_of(opened)}, follow_redirects=False)


def link_in(mail: Any) -> str:
    found = LINK.search(mail.get_content())
    assert found, mail.get_content()
    return found.group()


def token_in(link: str) -> str:
    return parse_qs(urlsplit(link).query)["jeton"][0]


def now(app: FastAPI) -> datetime:
    return app.state.clock()


def make_user(session: Session, app: FastAPI, *, name: str = "Angela", email: str = "angela@exemple.fr",
              password: str | None = None, confirmed: bool = True, onboarded: bool = True) -> User:
    user = service.create_user(session, display_name=name, email=email, password=password,
                               is_email_confirmed=confirmed, now=now(app))
    if onboarded:
        service.complete_onboarding(session, user, commune_insee=LIEVIN, birth_year=1985, accepts_terms=True,
                                    terms_version=app.state.settings.terms_version, now=now(app))
    session.commit()
    return user


def sign_in_by_link(client: TestClient, session: Session, app: FastAPI, user: User) -> None:
    """Sign in as the confirmation link does (no password hashing: keeps the tests fast)."""
    raw = service.issue_account_token(session, user, AccountTokenKind.confirm_email, now=now(app),
                                      ttl=service.CONFIRMATION_TTL)
    session.commit()
    response = submit(client, f"/inscription/confirmer?jeton={raw}", {"jeton": raw})
    assert response.status_code == 303


def client_on(app: FastAPI, request: pytest.FixtureRequest) -> TestClient:
    """Another browser (its own cookies) on the same application, closed after the test."""
    other = TestClient(app)
    request.addfinalizer(other.close)
    return other


def sign_in(client: TestClient, email: str, password: str) -> Response:
    return submit(client, "/connexion", {"email": email, "password": password, "next": "/compte"})


def is_signed_in(client: TestClient) -> bool:
    response = client.get("/compte", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/connexion?next=")
        return False
    assert response.status_code == 200
    return True


def count(session: Session, model: Any, user_id: int | None) -> int:
    return session.exec(select(func.count()).select_from(model).where(model.user_id == user_id)).one()


# --- sign-up, confirmation and onboarding


def test_sign_up_then_the_mail_link_signs_in(client: TestClient, session: Session,
                                             smtp_server: SmtpServer) -> None:
    response = submit(client, "/inscription",
                      {"display_name": " Angela ", "email": "Angela@Exemple.fr", "password": PASSPHRASE})
    text = assert_page(response)
    assert "Vérifiez votre messagerie" in text
    assert "angela@exemple.fr" in text

    mail = smtp_server.pop()
    assert mail["To"] == "angela@exemple.fr"
    assert mail["Subject"] == "Confirmez votre adresse électronique"
    assert "valable 48 heures" in mail.get_content()
    link = link_in(mail)
    assert link.startswith("http://testserver/inscription/confirmer?jeton=")

    # Not confirmed yet: the sign-in says what to do.
    refused = sign_in(client, "angela@exemple.fr", PASSPHRASE)
    assert "Confirmez d’abord votre adresse électronique" in assert_page(refused, 403)

    # Opening the link only shows a button: a mail scanner following links confirms nothing.
    page = assert_page(client.get(link))
    assert "Confirmer mon adresse" in page
    user = service.find_by_email(session, "angela@exemple.fr")
    assert user is not None
    assert user.is_email_confirmed is False
    assert not is_signed_in(client)

    confirmed = submit(client, link, {"jeton": token_in(link)})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/compte/bienvenue?next=%2Fcompte"
    session.refresh(user)
    assert user.is_email_confirmed is True
    welcome = assert_page(client.get(confirmed.headers["location"]))
    assert "Bienvenue sur Carreau" in welcome
    assert "Votre adresse est confirmée. Bienvenue !" in welcome
    assert "Angela" in welcome  # signed in: the header names the person

    # The link was used up.
    again = submit(client, link, {"jeton": token_in(link)})
    assert NO_LONGER_VALID in assert_page(again, 400)


def test_sign_up_errors_keep_what_was_typed(client: TestClient, session: Session, smtp_server: SmtpServer) -> None:
    response = submit(client, "/inscription", {"display_name": "A", "email": "angela@", "password": "court"})
    text = assert_page(response, 422)
    assert 'value="A"' in text
    assert 'value="angela@"' in text
    assert 'value="court"' not in text  # a password never comes back
    for message in ("Le nom affiché doit compter de 2 à 80 caractères.",
                    "Saisissez une adresse électronique valide, par exemple nom@exemple.fr.",
                    "Le mot de passe doit compter au moins 12 caractères."):
        assert message in text
    assert smtp_server.messages == []
    assert service.find_by_email(session, "angela@") is None


def test_onboarding_without_javascript(client: TestClient, session: Session, app: FastAPI) -> None:
    user = make_user(session, app, onboarded=False)
    sign_in_by_link(client, session, app, user)
    page = assert_page(client.get("/compte/bienvenue", params={"q": "62800", "next": "/compte"}))
    assert f'<input type="radio" name="commune" id="commune-{LIEVIN}" value="{LIEVIN}">' in page
    assert f'<label for="commune-{LIEVIN}">Liévin (62800)</label>' in page
    assert 'value="62800"' in page  # the search box keeps the search

    response = submit(client, "/compte/bienvenue?q=62800",
                      {"commune": LIEVIN, "birth_year": "1985", "accept_terms": "yes", "next": "/compte"})
    assert response.status_code == 303
    assert response.headers["location"] == "/compte"
    account = assert_page(client.get("/compte"))
    assert "C’est fait : vous pouvez participer." in account
    assert "Liévin" in account
    assert "déclarée" in account
    session.refresh(user)
    assert (user.commune_insee, user.birth_year, user.verification_level) == (LIEVIN, 1985, "declared")
    assert user.terms_version == app.state.settings.terms_version
    assert not user.needs_onboarding


@pytest.mark.parametrize(
    ("data", "message", "kept"),
    [
        ({"q": "Liévin", "birth_year": "1985", "accept_terms": "yes"}, "Choisissez votre commune dans la liste.",
         ['value="Liévin"', 'value="1985"', 'value="yes" checked']),
        ({"q": "62800", "commune": LIEVIN, "birth_year": "1985"},
         "Acceptez les conditions d’utilisation pour participer.",
         ['value="62800"', 'value="1985"', f'value="{LIEVIN}" checked']),
        ({"q": "Liévin", "commune": LIEVIN, "birth_year": "19x5", "accept_terms": "yes"},
         "Saisissez une année de naissance valide, par exemple 1985.",
         ['value="Liévin"', 'value="19x5"', f'value="{LIEVIN}" checked', 'value="yes" checked']),
    ],
    ids=["no-commune", "no-terms", "bad-birth-year"],
)
def test_onboarding_errors_keep_what_was_typed(client: TestClient, session: Session, app: FastAPI,
                                               data: dict[str, str], message: str, kept: list[str]) -> None:
    user = make_user(session, app, onboarded=False)
    sign_in_by_link(client, session, app, user)
    response = submit(client, "/compte/bienvenue", {**data, "next": "/compte"})
    text = assert_page(response, 422)
    assert "<title>Erreur — Bienvenue" in text
    assert "Le formulaire contient une erreur :" in text
    assert message in text
    for fragment in kept:
        assert fragment in text
    session.refresh(user)
    assert user.commune_insee is None
    assert user.terms_accepted_at is None


def test_commune_search_for_htmx_returns_only_the_choices(client: TestClient, session: Session,
                                                          app: FastAPI) -> None:
    sign_in_by_link(client, session, app, make_user(session, app, onboarded=False))
    response = client.get("/compte/bienvenue", params={"q": "Liévin"}, headers={"HX-Request": "true"})
    text = assert_fragment(response).strip()
    assert text.startswith('<div id="commune-choices">')
    assert text.endswith("</div>")
    assert f'value="{LIEVIN}"' in text
    assert "Bienvenue sur Carreau" not in text
    nothing = assert_fragment(client.get("/compte/bienvenue", params={"q": "Paris"}, headers={"HX-Request": "true"}))
    assert "Aucune commune du territoire ne correspond à « Paris »." in nothing


def test_onboarding_needs_a_signed_in_person(client: TestClient) -> None:
    response = client.get("/compte/bienvenue", params={"q": "62800"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?next=%2Fcompte%2Fbienvenue%3Fq%3D62800"
    htmx = client.get("/compte/bienvenue", params={"q": "62800"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx.headers["HX-Redirect"].startswith("/connexion?next=")


# --- sign-in


def test_sign_in(client: TestClient, session: Session, app: FastAPI) -> None:
    make_user(session, app, password=PASSPHRASE)
    wrong = sign_in(client, "Angela@exemple.fr", "pas le bon mot de passe")
    text = assert_page(wrong, 400)
    assert WRONG_CREDENTIALS in text
    assert 'value="Angela@exemple.fr"' in text  # what was typed comes back...
    assert "pas le bon mot de passe" not in text  # ...but never the password
    unknown = sign_in(client, "personne@exemple.fr", PASSPHRASE)
    assert WRONG_CREDENTIALS in assert_page(unknown, 400)
    assert not is_signed_in(client)

    right = sign_in(client, " ANGELA@exemple.fr ", PASSPHRASE)
    assert right.status_code == 303
    assert right.headers["location"] == "/compte"
    assert is_signed_in(client)


def test_unconfirmed_account_is_told_what_to_do(client: TestClient, session: Session, app: FastAPI) -> None:
    make_user(session, app, password=PASSPHRASE, confirmed=False)
    text = assert_page(sign_in(client, "angela@exemple.fr", PASSPHRASE), 403)
    assert "Confirmez d’abord votre adresse électronique : suivez le lien du message" in text
    assert not is_signed_in(client)


# --- password reset


def request_reset(client: TestClient, email: str) -> Response:
    return submit(client, "/mot-de-passe-oublie", {"email": email})


def test_password_reset(client: TestClient, session: Session, app: FastAPI, smtp_server: SmtpServer,
                        request: pytest.FixtureRequest) -> None:
    user = make_user(session, app, password=PASSPHRASE)
    elsewhere = client_on(app, request)  # a session opened earlier on another device
    sign_in_by_link(elsewhere, session, app, user)

    text = assert_page(request_reset(client, "Angela@exemple.fr"))
    assert "un message vient d’y être envoyé avec un lien pour choisir un nouveau mot de passe" in text
    mail = smtp_server.pop()
    assert mail["To"] == "angela@exemple.fr"
    assert mail["Subject"] == "Choisir un nouveau mot de passe"
    link = link_in(mail)
    assert link.startswith("http://testserver/mot-de-passe/nouveau?jeton=")

    # Too weak: refused, and the link still works.
    weak = submit(client, link, {"jeton": token_in(link), "password": "court"})
    assert "Le mot de passe doit compter au moins 12 caractères." in assert_page(weak, 422)

    done = submit(client, link, {"jeton": token_in(link), "password": NEW_PASSPHRASE})
    assert done.status_code == 303
    assert done.headers["location"] == "/connexion"
    assert "Votre mot de passe est changé" in page_text(client.get("/connexion"))

    again = submit(client, link, {"jeton": token_in(link), "password": "encore une autre phrase de passe"})
    assert NO_LONGER_VALID in assert_page(again, 400)

    assert not is_signed_in(elsewhere)  # every open session was closed
    assert WRONG_CREDENTIALS in assert_page(sign_in(client, "angela@exemple.fr", PASSPHRASE), 400)
    assert sign_in(client, "angela@exemple.fr", NEW_PASSPHRASE).status_code == 303


def test_expired_reset_link_is_refused(client: TestClient, session: Session, app: FastAPI,
                                       smtp_server: SmtpServer) -> None:
    user = make_user(session, app, password=PASSPHRASE)
    request_reset(client, "angela@exemple.fr")
    link = link_in(smtp_server.pop())
    form = client.get(link)
    start = now(app)
    app.state.clock = lambda: start + service.RESET_TTL + timedelta(seconds=1)
    response = client.post("/mot-de-passe/nouveau", follow_redirects=False,
                           data={"jeton": token_in(link), "password": NEW_PASSPHRASE, "csrf_token": csrf_of(form)})
    assert NO_LONGER_VALID in assert_page(response, 400)
    session.refresh(user)
    assert user.password_hash is not None
    assert service.verify_password(PASSPHRASE, user.password_hash)


# --- no account enumeration


def without(text: str, *values: str) -> str:
    for value in values:
        text = text.replace(value, "ADDRESS")
    return text


def test_sign_up_with_a_taken_address_looks_like_success(client: TestClient, session: Session, app: FastAPI,
                                                         smtp_server: SmtpServer) -> None:
    make_user(session, app)
    form = {"display_name": "Quelqu’un", "password": PASSPHRASE}
    fresh = submit(client, "/inscription", {**form, "email": "bruno@exemple.fr"})
    taken = submit(client, "/inscription", {**form, "email": "angela@exemple.fr"})
    assert fresh.status_code == taken.status_code == 200
    assert without(taken.text, "angela@exemple.fr") == without(fresh.text, "bruno@exemple.fr")

    confirmation, notice = smtp_server.messages
    assert (confirmation["To"], confirmation["Subject"]) == ("bruno@exemple.fr", "Confirmez votre adresse électronique")
    assert (notice["To"], notice["Subject"]) == ("angela@exemple.fr", "Votre compte Carreau")
    assert "qui en a déjà un" in notice.get_content()
    assert link_in(notice) == "http://testserver/mot-de-passe-oublie"
    owners = session.exec(select(User).where(User.email == "angela@exemple.fr")).all()
    assert [u.display_name for u in owners] == ["Angela"]  # nothing changed on the account


def test_reset_for_an_unknown_address_looks_like_success(client: TestClient, session: Session, app: FastAPI,
                                                         smtp_server: SmtpServer) -> None:
    make_user(session, app)
    known = request_reset(client, "angela@exemple.fr")
    unknown = request_reset(client, "personne@exemple.fr")
    assert known.status_code == unknown.status_code == 200
    assert without(unknown.text, "personne@exemple.fr") == without(known.text, "angela@exemple.fr")
    assert [m["To"] for m in smtp_server.messages] == ["angela@exemple.fr"]


# --- local accounts turned off


def test_local_accounts_can_be_turned_off(settings: Settings, session: Session, smtp_server: SmtpServer) -> None:
    app = build_app(settings, session, smtp_server, local_accounts_enabled=False)
    with TestClient(app) as client:
        page = client.get("/connexion")
        text = assert_page(page)
        assert 'name="password"' not in text
        assert 'action="/connexion"' not in text
        assert 'href="/inscription"' not in text
        token = csrf_of(page)
        refused = client.post("/connexion", data={"email": "angela@exemple.fr", "password": PASSPHRASE,
                                                  "csrf_token": token})
        assert "La connexion par adresse électronique n’est pas proposée ici." in assert_page(refused, 400)
        not_here = "La création de compte par adresse électronique n’est pas proposée ici."
        assert not_here in assert_page(client.get("/inscription"), 400)
        sign_up = client.post("/inscription", data={"display_name": "Bruno", "email": "bruno@exemple.fr",
                                                    "password": PASSPHRASE, "csrf_token": token})
        assert not_here in assert_page(sign_up, 400)
        assert_page(client.get("/mot-de-passe-oublie"), 400)
        forgot = client.post("/mot-de-passe-oublie", data={"email": "angela@exemple.fr", "csrf_token": token})
        assert_page(forgot, 400)
    assert service.find_by_email(session, "bruno@exemple.fr") is None
    assert smtp_server.messages == []
    app.state.engine.dispose()


# --- the account page


@pytest.fixture
def resident(client: TestClient, session: Session, app: FastAPI) -> User:
    """Angela, onboarded in Liévin and signed in on `client`."""
    user = make_user(session, app)
    sign_in_by_link(client, session, app, user)
    return user


def test_account_page(client: TestClient, resident: User) -> None:
    text = assert_page(client.get("/compte"))
    assert "Mon compte" in text
    assert "Liévin" in text
    assert "déclarée" in text
    assert "angela@exemple.fr" in text
    assert "cette session" in text  # the list of open sessions marks this one


def test_update_display_name(client: TestClient, session: Session, resident: User) -> None:
    response = submit(client, "/compte", {"display_name": "  Angela   D. ", "commune": LIEVIN, "birth_year": "1980"},
                      action="/compte/profil")
    assert response.status_code == 303
    assert response.headers["location"] == "/compte"
    text = assert_page(client.get("/compte"))
    assert "Votre profil est enregistré." in text
    assert 'value="Angela D."' in text
    session.refresh(resident)
    assert (resident.display_name, resident.birth_year) == ("Angela D.", 1980)


def test_update_profile_errors_keep_what_was_typed(client: TestClient, session: Session, resident: User) -> None:
    response = submit(client, "/compte", {"display_name": "A", "commune": LIEVIN, "birth_year": "1980"},
                      action="/compte/profil")
    text = assert_page(response, 422)
    assert "Le nom affiché doit compter de 2 à 80 caractères." in text
    assert 'value="A"' in text
    assert 'value="1980"' in text
    session.refresh(resident)
    assert (resident.display_name, resident.birth_year) == ("Angela", 1985)


def test_a_mistyped_birth_year_is_not_dropped(client: TestClient, session: Session, resident: User) -> None:
    response = submit(client, "/compte", {"display_name": "Angela", "commune": LIEVIN, "birth_year": "19x5"},
                      action="/compte/profil")
    text = assert_page(response, 422)
    assert "Saisissez une année de naissance valide, par exemple 1985." in text
    assert 'value="19x5"' in text
    session.refresh(resident)
    assert resident.birth_year == 1985


def test_access_tokens_on_the_account_page(client: TestClient, session: Session, app: FastAPI, resident: User,
                                           request: pytest.FixtureRequest) -> None:
    created = submit(client, "/compte", {"name": "tableur de suivi"}, action="/compte/jetons")
    text = assert_page(created)
    raw = re.search(r'id="new-token">(carreau_[^<]+)<', text)
    assert raw, "the new token is shown"
    raw_token = raw.group(1)
    assert "il ne sera plus jamais affiché" in text
    token = session.exec(select(AccessToken).where(AccessToken.user_id == resident.id)).one()
    assert token.name == "tableur de suivi"

    reloaded = assert_page(client.get("/compte"))
    assert raw_token not in reloaded  # shown once only
    assert f"<code>{token.prefix}…</code>" in reloaded
    assert "tableur de suivi" in reloaded
    program = client_on(app, request)  # a script, with no cookie
    bearer = {"Authorization": f"Bearer {raw_token}"}
    assert program.get("/api/v1/me", headers=bearer).json()["id"] == resident.id

    revoked = submit(client, "/compte", {}, action=f"/compte/jetons/{token.id}/revoquer")
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/compte#jetons"
    text = assert_page(client.get("/compte"))
    assert "Le jeton est révoqué : il ne permet plus d’accéder à l’API." in text
    assert f"<code>{token.prefix}…</code>" in text
    assert f'action="/compte/jetons/{token.id}/revoquer"' not in text  # no button any more: "révoqué"
    assert program.get("/api/v1/me", headers=bearer).status_code == 401


def test_a_token_needs_a_name(client: TestClient, resident: User) -> None:
    text = assert_page(submit(client, "/compte", {"name": "  "}, action="/compte/jetons"), 422)
    assert "Donnez un nom de 1 à 80 caractères à ce jeton." in text
    assert 'id="new-token"' not in text


def test_someone_elses_token_cannot_be_revoked(client: TestClient, session: Session, app: FastAPI,
                                               resident: User) -> None:
    other = make_user(session, app, name="Bruno", email="bruno@exemple.fr")
    token, raw = service.create_access_token(session, other, name="script", now=now(app))
    session.commit()
    response = submit(client, "/compte", {}, action=f"/compte/jetons/{token.id}/revoquer")
    assert "Ce jeton n’existe pas." in assert_page(response, 404)
    assert service.principal_for_access_token(session, raw, now=now(app)).user == other


def test_download_my_data(client: TestClient, session: Session, app: FastAPI, resident: User) -> None:
    _, raw = service.create_access_token(session, resident, name="script", now=now(app))
    service.grant_role(session, resident, Role.mediator, now=now(app), commune_insee=LIEVIN)
    session.commit()
    token_hash = service.digest(raw)
    response = client.get("/compte/donnees.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == 'attachment; filename="carreau-mes-donnees.json"'
    assert response.headers["cache-control"] == "no-store"
    data = json.loads(response.text)
    profile = data["profile"]
    assert profile["email"] == "angela@exemple.fr"
    assert (profile["id"], profile["display_name"], profile["commune_insee"]) == (resident.id, "Angela", LIEVIN)
    assert profile["birth_year"] == 1985
    assert "password_hash" not in profile
    assert data["roles"] == [{"role": "mediator", "axis_id": None, "consultation_id": None, "commune_insee": LIEVIN,
                              "granted_at": data["roles"][0]["granted_at"]}]
    assert len(data["sessions"]) == 1
    assert data["sessions"][0]["user_agent"] == "testclient"
    (token,) = data["access_tokens"]
    assert set(token) == {"name", "prefix", "created_at", "last_used_at", "revoked_at"}
    assert token["name"] == "script"
    assert raw not in response.text
    assert token_hash not in response.text


def test_download_needs_a_signed_in_person(client: TestClient) -> None:
    response = client.get("/compte/donnees.json", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=")


def test_erase_my_account(client: TestClient, session: Session, app: FastAPI,
                          request: pytest.FixtureRequest) -> None:
    user = make_user(session, app, password=PASSPHRASE)
    assert user.id is not None
    user_id = user.id
    at = now(app)
    session.add(OidcIdentity(user_id=user_id, provider="fc", issuer="https://op.test", subject="angela", created_at=at))
    _, raw = service.create_access_token(session, user, name="script", now=at)
    service.grant_role(session, user, Role.mediator, now=at, commune_insee=LIEVIN)
    service.issue_account_token(session, user, AccountTokenKind.reset_password, now=at, ttl=service.RESET_TTL)
    session.commit()
    elsewhere = client_on(app, request)
    sign_in_by_link(elsewhere, session, app, user)
    sign_in_by_link(client, session, app, user)
    assert count(session, UserSession, user_id) == 2

    page = assert_page(client.get("/compte/supprimer"))
    assert "La suppression est définitive." in page
    refused = submit(client, "/compte/supprimer", {"confirmation": "oui"})
    assert "Écrivez SUPPRIMER pour confirmer." in assert_page(refused, 422)
    session.refresh(user)
    assert user.erased_at is None

    erased = submit(client, "/compte/supprimer", {"confirmation": " SUPPRIMER "})
    assert erased.status_code == 303
    assert erased.headers["location"] == "/"
    assert "Votre compte est supprimé." in page_text(client.get("/"))

    session.expire_all()
    user = session.get(User, user_id)
    assert user is not None  # the row stays, so contributions stay (anonymously)
    assert user.erased_at is not None
    for field in ("display_name", "email", "password_hash", "given_name", "family_name", "commune_insee",
                  "birth_year", "verified_by_id", "verified_at", "terms_version", "terms_accepted_at",
                  "last_sign_in_at"):
        assert getattr(user, field) is None, field
    assert (user.is_email_confirmed, user.is_identity_verified) == (False, False)
    assert user.verification_level == VerificationLevel.none
    for model in (OidcIdentity, AccessToken, AccountToken, RoleGrant, UserSession):
        assert count(session, model, user_id) == 0, model.__tablename__
    actions = [e.action for e in audit.entries_for(session, target_type="user", target_id=user_id)]
    assert "account.erased" in actions
    assert service.display_name_of(user) == "Habitant·e anonyme"

    assert not is_signed_in(client)
    assert not is_signed_in(elsewhere)
    assert WRONG_CREDENTIALS in assert_page(sign_in(client, "angela@exemple.fr", PASSPHRASE), 400)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    # The address is free again: a new account may use it.
    assert service.find_by_email(session, "angela@exemple.fr") is None
