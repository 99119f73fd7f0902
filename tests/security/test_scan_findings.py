"""Regression tests for what the scanners found (tests/security/scanners.sh, docs/scans.md)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, delete, select

from app.accounts import service as accounts
from app.accounts.models import AccessToken, User
from tests.factories import NOW, make_user
from tests.participation import csrf


def test_a_bearer_read_beside_a_writer_is_not_a_500(engine: Engine) -> None:
    """sqlmap's threads: a GET with a bearer token whose reading transaction began before another
    request committed a write. Recording the token's last use then met SQLite's outdated snapshot
    (`database is locked`, a 500); the person is now recognised, the use recorded later."""
    with Session(engine) as setup:
        user = make_user(setup, email="lecteur.sqlmap@example.fr")
        other = make_user(setup, email="ecrivain.sqlmap@example.fr")
        _token, raw = accounts.create_access_token(setup, user, name="scan", now=NOW)
        setup.commit()
        user_id, other_id = user.id, other.id
    try:
        with Session(engine) as reader, Session(engine) as writer:
            reader.exec(select(User).where(User.id == user_id)).one()  # the reading snapshot begins
            written = writer.get(User, other_id)
            assert written is not None
            written.display_name = "Écrit entre-temps"
            writer.add(written)
            writer.commit()
            found = accounts.principal_for_access_token(reader, raw, now=NOW)
            assert found is not None
            assert found.id == user_id
            reader.commit()
        with Session(engine) as later:  # a later request records the use
            assert accounts.principal_for_access_token(later, raw, now=NOW) is not None
            later.commit()
            token = later.exec(select(AccessToken).where(AccessToken.user_id == user_id)).one()
            assert token.last_used_at is not None
    finally:
        with Session(engine) as cleanup:
            cleanup.exec(delete(AccessToken).where(AccessToken.user_id == user_id))  # type: ignore[call-overload]
            cleanup.exec(delete(User).where(User.id.in_([user_id, other_id])))  # type: ignore[union-attr,call-overload]
            cleanup.commit()


@pytest.mark.parametrize("where", ["form", "header"])
@pytest.mark.parametrize("tail", ["\u00bf'\"(", "\u00e9", "\u202e"])
def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_500(client: TestClient, where: str,
                                                                       tail: str) -> None:
    """wapiti appended `¿'"(` to the forms' CSRF token: hmac.compare_digest raised a TypeError on
    the non-ASCII string (a 500 on every unsafe route); it is a wrong token like any other."""
    token = csrf(client) + tail
    if where == "form":
        answer = client.post("/connexion", data={"email": "a@example.fr", "password": "x", "csrf_token": token},
                             follow_redirects=False)
    else:
        answer = client.post("/connexion", data={"email": "a@example.fr", "password": "x"},
                             headers={"X-CSRF-Token": token.encode()}, follow_redirects=False)
    assert answer.status_code == 403
