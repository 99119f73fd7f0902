"""The export API, the download pages with their signed links, and `carreau export`."""

import html
import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.consultations.models import Consultation
from app.evaluation import downloads
from app.evaluation.exports import Format, What
from app.territory.models import Axis
from tests.evaluation.exporting import principal, read_csv, read_zip, support_consultation
from tests.factories import NOW, bearer, make_user
from tests.participation import sign_in as participation_sign_in
from tests.support import cli_database, invoke, logging_kept, problem, runner

URL = "/api/v1/consultations/{id}/export"
FORBIDDEN = "/problems/export-forbidden"


def _token(session: Session, role: Role | None = None, **scope: object) -> dict[str, str]:
    who = principal(session, role, **scope)  # type: ignore[arg-type]
    return bearer(session, who.user)


def test_api_answers_evaluators_moderators_and_admins_only(client: TestClient, session: Session) -> None:
    scenario = support_consultation(session)
    url = URL.format(id=scenario["consultation"].id)
    assert client.get(url).status_code == 401
    problem(client.get(url, headers=_token(session)), 403, FORBIDDEN)  # a resident
    problem(client.get(url, headers=_token(session, Role.evaluator, axis_number=2)), 403, FORBIDDEN)  # another axis
    problem(client.get(url, headers=_token(session, Role.moderator, axis_number=2)), 403, FORBIDDEN)
    problem(client.get(url, headers=_token(session, Role.mediator)), 403, FORBIDDEN)
    for headers in (_token(session, Role.evaluator), _token(session, Role.evaluator, axis_number=1),
                    _token(session, Role.moderator, consultation=scenario["consultation"]),
                    _token(session, Role.admin)):
        response = client.get(url, params={"format": "csv", "what": "ballots"}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert 'attachment; filename="carreau-' in response.headers["content-disposition"]
        assert response.headers["cache-control"] == "private, no-store"
        assert len({row["pseudonyme"] for row in read_csv(response.content)}) == 40
    assert client.get(URL.format(id=999999), headers=_token(session, Role.admin)).status_code == 404


def test_api_formats_and_hidden_content(client: TestClient, session: Session) -> None:
    scenario = support_consultation(session)
    url = URL.format(id=scenario["consultation"].id)
    evaluator = _token(session, Role.evaluator)
    bundle = client.get(url, params={"format": "bundle"}, headers=evaluator)
    assert bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert "datapackage.json" in archive.namelist()
    titles = {row["titre"] for row in read_zip(bundle.content)["propositions"]}
    assert "Proposition masquée" not in titles
    moderated = client.get(url, params={"format": "json", "what": "proposals"},
                           headers=_token(session, Role.moderator, axis_number=1))
    assert "Proposition masquée" in {row["titre"] for row in json.loads(moderated.content)["tables"]["propositions"]}
    for fmt, kind in (("xlsx", "spreadsheetml"), ("ods", "opendocument")):
        response = client.get(url, params={"format": fmt, "what": "results"}, headers=evaluator)
        assert kind in response.headers["content-type"]
    problem(client.get(url, params={"format": "pb"}, headers=evaluator), 422, "/problems/not-a-budget")
    assert client.get(url, params={"format": "pdf"}, headers=evaluator).status_code == 422


def test_api_keeps_hidden_results_hidden(client: TestClient, session: Session) -> None:
    scenario = support_consultation(session, phase="voting", results_hidden_until_end=True)
    url = URL.format(id=scenario["consultation"].id)
    for headers in (_token(session, Role.admin), _token(session, Role.moderator, axis_number=1)):
        for what in ("ballots", "results"):
            assert problem(client.get(url, params={"what": what}, headers=headers), 403, "/problems/results-hidden")
        tables = read_zip(client.get(url, params={"format": "csv"}, headers=headers).content)
        assert set(tables) == {"propositions", "commentaires"}


def test_draft_consultations_are_for_their_moderators(client: TestClient, session: Session) -> None:
    scenario = support_consultation(session, status="draft")
    url = URL.format(id=scenario["consultation"].id)
    assert client.get(url, headers=_token(session, Role.evaluator)).status_code == 404
    assert client.get(url, params={"what": "proposals"},
                      headers=_token(session, Role.moderator, axis_number=1)).status_code == 200


# --- pages and signed links


@pytest.fixture
def signed_in(client: TestClient, session: Session, app: FastAPI) -> Callable[..., int]:
    """sign_in(role, axis_number=…, consultation_id=…): a new person with that role, signed in
    on the client (the previous one signed out)."""

    def sign_in(role: Role | None, *, axis_number: int | None = None, consultation_id: int | None = None) -> int:
        user = make_user(session)
        if role is not None:
            axis_id = session.exec(select(Axis.id).where(Axis.number == axis_number)).one() if axis_number else None
            accounts.grant_role(session, user, role, now=NOW, axis_id=axis_id, consultation_id=consultation_id)
        session.flush()
        participation_sign_in(client, app, user)
        return user.id or 0

    return sign_in


def _links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="(/gestion/exports/\d+/fichier\?[^"]+)"', page)]


def test_download_page_links_are_bound_to_the_signed_in_person(client: TestClient, session: Session,
                                                                signed_in: Callable[..., int]) -> None:
    consultation = support_consultation(session)["consultation"]
    signed_in(Role.evaluator)
    listing = client.get("/gestion/exports")
    assert listing.status_code == 200
    assert f"/gestion/exports/{consultation.id}" in listing.text
    page = client.get(f"/gestion/exports/{consultation.id}")
    assert page.status_code == 200
    links = _links(page.text)
    ballots_csv = next(link for link in links if "what=ballots" in link and "format=csv" in link)
    download = client.get(ballots_csv)
    assert download.status_code == 200
    assert len(read_csv(download.content)) == 60
    assert any("format=bundle" in link for link in links)

    # Another evaluator replays the link: refused, though they could export it from their own page.
    signed_in(Role.evaluator)
    assert client.get(ballots_csv).status_code == 403
    assert client.get(f"/gestion/exports/{consultation.id}").status_code == 200
    # A tampered link (someone else's id, or another file) is refused too.
    query = parse_qs(urlsplit(ballots_csv).query)
    forged = dict(query, what=["all"])
    assert client.get(f"/gestion/exports/{consultation.id}/fichier", params=forged).status_code == 403
    client.cookies.clear()
    assert client.get(ballots_csv, follow_redirects=False).status_code in (303, 401)


def test_download_links_expire(client: TestClient, session: Session, signed_in: Callable[..., int],
                              app: FastAPI) -> None:
    consultation = support_consultation(session)["consultation"]
    app.state.clock = lambda: NOW
    signed_in(Role.evaluator)
    link = next(link for link in _links(client.get(f"/gestion/exports/{consultation.id}").text) if "what=all" in link)
    assert client.get(link).status_code == 200
    for minutes in (20, 40, 60):  # the session stays alive (30 minutes idle at most) while the link ages
        app.state.clock = lambda minutes=minutes: NOW + timedelta(minutes=minutes)
        assert client.get("/gestion/exports").status_code == 200
    app.state.clock = lambda: NOW + downloads.LINK_LIFETIME + timedelta(seconds=1)
    assert client.get(link, follow_redirects=False).status_code == 403


def test_pages_refuse_people_who_cannot_export(client: TestClient, session: Session,
                                               signed_in: Callable[..., int]) -> None:
    consultation = support_consultation(session)["consultation"]
    signed_in(None)
    assert client.get("/gestion/exports").status_code == 403
    assert client.get(f"/gestion/exports/{consultation.id}").status_code == 403
    signed_in(Role.evaluator, axis_number=2)
    assert client.get(f"/gestion/exports/{consultation.id}").status_code == 403


# --- the command line


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with logging_kept(), cli_database(tmp_path, monkeypatch) as path:
        yield path


def test_carreau_export_writes_every_format(database: Path, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    invoke("seed", "demo")
    from app.core.db import make_engine
    from app.voting.results import visible

    engine = make_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        from app.core.clock import utcnow

        ended = [c for c in session.exec(select(Consultation).where(Consultation.status == "published"))
                 if c.results_starts_at <= utcnow() and visible(c, utcnow())]
        consultation_id = ended[0].id
    engine.dispose()
    for fmt in ("csv", "xlsx", "ods", "json", "bundle"):
        out = tmp_path / f"export.{fmt}"
        output = invoke("export", str(consultation_id), "--format", fmt, "--what", "all", "--out", str(out))
        assert f"Wrote {out}" in output
        assert out.stat().st_size > 0
    tables = read_zip((tmp_path / "export.bundle").read_bytes())
    assert set(tables) == {"propositions", "bulletins", "resultats", "commentaires"}
    single = tmp_path / "ballots.csv"
    invoke("export", str(consultation_id), "--what", "ballots", "--out", str(single))
    assert single.read_text().startswith("pseudonyme,proposition_id,valeur")
    refused = runner.invoke(downloads_cli(), ["export", "999999", "--out", str(tmp_path / "x.csv")])
    assert refused.exit_code == 1
    assert "Error:" in refused.output
    assert not (tmp_path / "x.csv").exists()
    assert Format.pb.value == "pb"
    assert What.all.value == "all"


def downloads_cli():  # type: ignore[no-untyped-def]
    from app.cli import cli

    return cli


def test_exports_are_rate_limited_per_person(client: TestClient, session: Session,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(downloads, "EXPORT_RATE", "2/hour")
    url = URL.format(id=support_consultation(session)["consultation"].id)
    evaluator = _token(session, Role.evaluator)
    for _ in range(2):
        assert client.get(url, params={"what": "proposals"}, headers=evaluator).status_code == 200
    refused = client.get(url, params={"what": "proposals"}, headers=evaluator)
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert client.get(url, params={"what": "proposals"}, headers=_token(session, Role.admin)).status_code == 200
