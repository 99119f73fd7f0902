"""Helpers shared by the participation page tests (consultations, proposals, voting, moderation):
a browser signed in without going through the password form, and forms sent with their CSRF token."""

import re
import secrets
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from app.accounts.models import User
from app.accounts.sessions import StoredSession, cookie_name, token_hash
from tests.factories import NOW

CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
HTMX = {"HX-Request": "true"}


def sign_in(client: TestClient, app: FastAPI, user: User) -> None:
    """Sign `user` in on this client: a server-side session, as the sign-in page would leave it."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    stored = StoredSession(user.id, {"name": user.display_name}, NOW, NOW, NOW + timedelta(hours=12))
    app.state.session_store.save(token_hash(token), stored)
    client.cookies.delete(cookie_name(False))  # a visitor's session (e.g. the proposals' seed) gives way
    client.cookies.set(cookie_name(False), token, domain="testserver.local")


FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, page: str = "/") -> str:
    """The CSRF token a page hands to this browser (and its cookie, set on the way). Pages give it
    in the htmx header to people signed in; a visitor gets it in the forms, e.g. the sign-in form's."""
    text = client.get(page).text
    found = CSRF.search(text) or FORM_TOKEN.search(text)
    if found is None and page == "/":
        found = FORM_TOKEN.search(client.get("/connexion").text)
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def post(client: TestClient, url: str, data: dict[str, str], *, htmx: bool = False) -> Response:
    """Send a form as the page would (the token in the form, or in the header for htmx); no redirect followed."""
    token = csrf(client)
    if htmx:
        return client.post(url, data=data, headers={**HTMX, "X-CSRF-Token": token}, follow_redirects=False)
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)
