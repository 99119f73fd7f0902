"""The audit log: who reads which entries (admins all; a moderator their axis's and their own
acts; nobody else), the filters, keyset pages, the page itself, its CSV export (streamed,
neutralised) and GET /api/v1/audit (same scoping, problem+json errors)."""

import csv
import io
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.audit import service as audit
from app.backoffice import service
from app.core.errors import Forbidden, SignInRequired
from tests.backoffice.people import AXIS_1_TARGETS, AXIS_2_TARGETS, Log, make_log, staff
from tests.factories import NOW, bearer, make_consultation, make_user
from tests.participation import sign_in
from tests.support import page_text, problem


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def log(session: Session) -> Log:
    return make_log(session)


def seen(session: Session, user: User, **filters: str) -> set[int]:
    principal = accounts.load_principal(session, user)
    page = service.audit_page(session, principal, service.parse_filters(**filters), limit=1000)
    return {entry.id or 0 for entry in page.entries}


# --- who reads what


def test_admins_read_everything(session: Session, log: Log) -> None:
    assert log.ids(*log.entries) <= seen(session, log.admin)


def test_a_moderator_reads_their_axis_and_their_own_acts(session: Session, log: Log) -> None:
    assert seen(session, log.moderator_1) == log.ids(*AXIS_1_TARGETS, "own act")
    assert seen(session, log.moderator_2) == log.ids(*AXIS_2_TARGETS)


def test_a_moderator_of_a_consultation_reads_that_consultation_only(session: Session, log: Log) -> None:
    other = make_consultation(session, axis_number=1)
    audit.record(session, actor_id=None, actor_label="x", action="consultation.updated", target_type="consultation",
                 target_id=other.id, now=NOW)
    moderator = staff(session, Role.moderator, consultation=log.consultation_1)
    assert seen(session, moderator) == log.ids(*AXIS_1_TARGETS)


def test_a_platform_wide_moderator_reads_every_consultation_but_not_people(session: Session, log: Log) -> None:
    moderator = staff(session, Role.moderator)
    assert seen(session, moderator) == log.ids(*AXIS_1_TARGETS, *AXIS_2_TARGETS)


@pytest.mark.parametrize("role", [None, Role.evaluator, Role.mediator, Role.resident])
def test_others_read_nothing(session: Session, log: Log, role: Role | None) -> None:
    user = staff(session, role, commune="62510" if role == Role.mediator else None)
    with pytest.raises(Forbidden):
        seen(session, user)


def test_visitors_are_asked_to_sign_in(session: Session) -> None:
    with pytest.raises(SignInRequired):
        service.audit_page(session, None, service.parse_filters())


def test_a_moderator_cannot_reach_another_axis_through_the_filters(session: Session, log: Log) -> None:
    consultation_2 = str(log.consultation_2.id)
    assert seen(session, log.moderator_1, target_type="consultation", target_id=consultation_2) == set()
    assert seen(session, log.moderator_2, target_type="consultation", target_id=consultation_2) == log.ids(
        "consultation 2")


def test_the_log_cannot_be_changed_nor_emptied(session: Session, log: Log) -> None:
    """The database refuses (triggers of the migration), whatever the way in: the ORM or plain SQL.
    (tests/accounts/test_service.py checks UPDATE and DELETE statements of the ORM too.)"""
    entry = log.entries["proposal 1"]
    with session.begin_nested() as savepoint:
        entry.actor_label = "Quelqu’un d’autre"
        with pytest.raises(DBAPIError, match="append-only"):
            session.flush()
        savepoint.rollback()
    session.expire_all()
    for sql in ("UPDATE audit_entry SET after = NULL", "DELETE FROM audit_entry", "UPDATE audit_entry SET id = id"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(sql))
    assert log.ids(*log.entries) <= seen(session, log.admin)
    assert session.get(type(entry), entry.id).actor_label == "Modeste Un"  # type: ignore[union-attr]


# --- filters


@pytest.mark.parametrize(("filters", "expected"), [
    ({"actor": "Modeste Un"}, ("consultation 1", "proposal 1", "action 1", "update 1", "own act")),
    ({"actor": "modeste"}, ("consultation 1", "proposal 1", "action 1", "update 1", "own act", "consultation 2")),
    ({"action": "content"}, ("proposal 1", "comment 1")),
    ({"action": "content.hidden", "target_type": "comment"}, ("comment 1",)),
    ({"action": "action"}, ("action 1", "update 1", "rating 1")),
    ({"action": "action.progress"}, ("update 1",)),
    ({"action": "act"}, ()),  # a family is a whole word
    ({"target_type": "user"}, ("person", "own act")),
    ({"channel": "assisted"}, ("rating 1", "proposal 2")),
    ({"channel": "assisted", "target_type": "proposal"}, ("proposal 2",)),
])
def test_filters(session: Session, log: Log, filters: dict[str, str], expected: tuple[str, ...]) -> None:
    mine = log.ids(*log.entries)
    assert seen(session, log.admin, **filters) & mine == log.ids(*expected)


def test_filter_by_actor_id_and_target_id(session: Session, log: Log) -> None:
    assert seen(session, log.admin, actor=str(log.moderator_2.id)) == log.ids("consultation 2")
    target = log.entries["proposal 1"]
    assert seen(session, log.admin, target_type="proposal", target_id=target.target_id) == log.ids("proposal 1")


def test_filter_by_consultation_and_everything_in_it(client: TestClient, app: FastAPI, session: Session,
                                                    log: Log) -> None:
    consultation_1 = str(log.consultation_1.id)
    assert seen(session, log.admin, consultation=consultation_1) == log.ids(*AXIS_1_TARGETS)
    assert seen(session, log.moderator_1, consultation=consultation_1, action="content") == log.ids(
        "proposal 1", "comment 1")
    assert seen(session, log.moderator_2, consultation=consultation_1) == set()
    # The choices are the consultations within reach.
    sign_in(client, app, log.moderator_2)
    text = page_text(client.get("/gestion/journal"))
    assert f'<option value="{log.consultation_2.id}">{log.consultation_2.title}</option>' in text
    assert f'value="{log.consultation_1.id}"' not in text


def test_filter_by_dates_in_the_platform_s_time_zone(session: Session, log: Log) -> None:
    mine = log.ids(*log.entries)
    # Entries are a day apart at 12:00 UTC (13:00 in Paris), the last ("own act") a day before NOW.
    last_day = (NOW - timedelta(days=1)).date().isoformat()
    assert seen(session, log.admin, since=last_day) & mine == log.ids("own act")
    assert seen(session, log.admin, until=(NOW - timedelta(days=10)).date().isoformat()) & mine == log.ids(
        "consultation 1")
    day_before = (NOW - timedelta(days=2)).date().isoformat()
    assert seen(session, log.admin, since=day_before, until=day_before) & mine == log.ids("person")
    # An instant, UTC when it says no zone; `until` includes it.
    moment = log.entries["person"].at
    assert seen(session, log.admin, since=moment.isoformat(), until=moment.isoformat()) & mine == log.ids("person")
    naive = moment.replace(tzinfo=None).isoformat()
    assert seen(session, log.admin, since=naive, until=naive) & mine == log.ids("person")


def test_wildcards_are_taken_literally(session: Session, log: Log) -> None:
    assert seen(session, log.admin, actor="%") == set()
    assert seen(session, log.admin, action="_") == set()


@pytest.mark.parametrize(("filters", "field"), [
    ({"since": "hier"}, "since"),
    ({"until": "2027-02-30"}, "until"),
    ({"since": "2027-03-02", "until": "2027-03-01"}, "until"),
    ({"channel": "pigeon"}, "channel"),
    ({"action": "proposal.hidden' OR 1=1"}, "action"),
    ({"target_type": "user; drop"}, "target_type"),
    ({"actor": "x" * 201}, "actor"),
    ({"consultation": "sept"}, "consultation"),
])
def test_filters_that_make_no_sense_are_refused(filters: dict[str, str], field: str) -> None:
    with pytest.raises(service.InvalidAuditFilter) as refusal:
        service.parse_filters(**filters)
    assert field in refusal.value.errors


# --- pages


def test_pages_follow_each_other_without_gaps_or_repeats(session: Session, log: Log) -> None:
    principal = accounts.load_principal(session, log.admin)
    # Several entries at the same instant: the id breaks the tie.
    for n in range(5):
        audit.record(session, actor_id=None, actor_label="x", action="same.instant", target_type="user",
                     target_id=n, now=NOW)
    everything = service.audit_page(session, principal, service.parse_filters(), limit=1000).entries
    assert [(e.at, e.id) for e in everything] == sorted(((e.at, e.id) for e in everything), reverse=True)
    walked, cursor = [], ""
    while True:
        page = service.audit_page(session, principal, service.parse_filters(), cursor=cursor, limit=3)
        assert len(page.entries) <= 3
        walked += page.entries
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [e.id for e in walked] == [e.id for e in everything]


@pytest.mark.parametrize("cursor", ["nonsense", "bm9uc2Vuc2U", "MjAyNy0wMy0wMVQxMjowMDowMHwx" + "!"])
def test_a_damaged_cursor_is_refused(session: Session, log: Log, cursor: str) -> None:
    principal = accounts.load_principal(session, log.admin)
    with pytest.raises(service.InvalidAuditFilter):
        service.audit_page(session, principal, service.parse_filters(), cursor=cursor)


def test_changes_are_shown_field_by_field(log: Log) -> None:
    updated = service.changes(log.entries["consultation 1"])
    assert updated == [service.Change("title", "Avant", "Après")]  # status did not change
    hidden = service.changes(log.entries["proposal 1"])
    assert hidden == [service.Change("state", "published", "hidden"), service.Change("reason", None, "Hors sujet")]
    assert service.changes(log.entries["comment 1"]) == [service.Change("reason", None, "Insultes")]


# --- the page


def test_the_journal_page(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    sign_in(client, app, log.moderator_1)
    response = client.get("/gestion/journal")
    assert response.status_code == 200
    text = page_text(response)
    assert "Journal des actes" in text
    assert "Contenu masqué" in text
    assert "content.hidden" in text
    assert "Hors sujet" in text  # the after of the hidden proposal
    assert "Après" in text
    assert "Avant" in text
    assert "Participation suspendue" in text  # own act
    assert "consultation.published" not in text  # axis 2
    assert "Vous voyez les actes qui concernent les axes" in text
    assert 'href="/gestion/journal.csv"' in text
    assert 'href="/gestion" aria-current="page"' in text  # the header's link to the back office


def test_the_journal_page_filters_and_pages(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    for n in range(service.PAGE_SIZE + 5):
        audit.record(session, actor_id=log.admin.id, actor_label="Alice Admin", action="bulk.act",
                     target_type="user", target_id=n, now=NOW)
    sign_in(client, app, log.admin)
    first = page_text(client.get("/gestion/journal?action=bulk"))
    assert first.count("<code>bulk.act</code>") == service.PAGE_SIZE
    assert 'href="/gestion/journal.csv?action=bulk"' in first
    start = first.index('href="/gestion/journal?action=bulk&cursor=') + len('href="')
    next_href = first[start:first.index('"', start)]
    second = page_text(client.get(next_href))
    assert second.count("<code>bulk.act</code>") == 5
    assert "Revenir aux actes les plus récents" in second
    assert "Actes plus anciens</a>" not in second


def test_the_journal_page_says_which_filter_is_wrong(client: TestClient, app: FastAPI, session: Session,
                                                     log: Log) -> None:
    sign_in(client, app, log.admin)
    response = client.get("/gestion/journal?since=hier&actor=Modeste")
    assert response.status_code == 400
    text = page_text(response)
    assert 'href="#field-since"' in text  # the error summary
    assert 'aria-invalid="true"' in text
    assert 'value="hier"' in text
    assert 'value="Modeste"' in text
    damaged = client.get("/gestion/journal?cursor=nonsense")
    assert damaged.status_code == 400
    assert "Ce repère de page n’est pas valable." in page_text(damaged)


def test_the_journal_page_is_for_readers_of_the_log(client: TestClient, app: FastAPI, session: Session,
                                                    log: Log) -> None:
    response = client.get("/gestion/journal", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=")
    for user in (make_user(session), staff(session, Role.evaluator), staff(session, Role.mediator, commune="62510")):
        sign_in(client, app, user)
        assert client.get("/gestion/journal").status_code == 403
        assert client.get("/gestion/journal?since=hier").status_code == 403  # not even the filters' errors
        assert client.get("/gestion/journal.csv").status_code == 403


def test_markup_in_entries_is_escaped(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    audit.record(session, actor_id=None, actor_label="<script>alert(1)</script>", action="x.y", target_type="user",
                 target_id="<b>1</b>", now=NOW, after={"<i>k</i>": "<img src=x onerror=alert(1)>"})
    sign_in(client, app, log.admin)
    body = client.get("/gestion/journal").text
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert "<i>k</i>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- CSV export


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_has_the_filtered_entries(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    sign_in(client, app, log.moderator_1)
    response = client.get("/gestion/journal.csv?channel=assisted")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="journal-20270301-1200.csv"'
    assert response.content.startswith(b"id,at,actor_id,actor,action,")  # UTF-8, no BOM
    rows = read_csv(response.content.decode("utf-8"))
    assert [int(row["id"]) for row in rows] == [log.entries["rating 1"].id]  # axis 2's assisted support is not hers
    row = rows[0]
    assert row["at"] == log.entries["rating 1"].at.isoformat().replace("+00:00", "Z")
    assert (row["actor"], row["action"], row["target_type"], row["channel"]) == (
        "Médiatrice", "action.evaluated", "evaluation", "assisted")
    assert row["before"] == ""
    assert row["after"] == '{"rating": 4}'


HOSTILE = ["=cmd|' /C calc'!A0", "+33 6 12 34 56 78", "-2+3", "@SUM(A1:A2)", "\tstart", "\rstart",
           ' ="quoted"', "'=1+1"]


def test_the_export_neutralises_formulas(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    for label in HOSTILE:
        audit.record(session, actor_id=None, actor_label=label, action="x.y", target_type="user", target_id=label[:40],
                     now=NOW, after={"text": label})
    sign_in(client, app, log.admin)
    rows = read_csv(client.get("/gestion/journal.csv?action=x.y").content.decode("utf-8"))
    assert sorted(row["actor"] for row in rows) == sorted("'" + label for label in HOSTILE)
    assert sorted(row["target_id"] for row in rows) == sorted("'" + label for label in HOSTILE)
    for row in rows:
        assert row["after"].startswith("{")  # JSON, which no spreadsheet runs


def test_the_export_writes_letters_as_letters(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    audit.record(session, actor_id=None, actor_label="Élodie", action="x.y", target_type="user", target_id=1,
                 now=NOW, before={"reason": "Propos déplacés à l’égard d’un voisin"}, after=None)
    sign_in(client, app, log.admin)
    [row] = read_csv(client.get("/gestion/journal.csv?action=x.y").content.decode("utf-8"))
    assert row["actor"] == "Élodie"
    assert row["before"] == '{"reason": "Propos déplacés à l’égard d’un voisin"}'
    assert row["after"] == ""


def test_the_export_is_streamed_in_chunks(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    long_text = "Une raison détaillée. " * 50
    for n in range(300):
        audit.record(session, actor_id=None, actor_label="lot", action="bulk.act", target_type="user", target_id=n,
                     now=NOW, after={"reason": long_text})
    sign_in(client, app, log.admin)
    with client.stream("GET", "/gestion/journal.csv?action=bulk") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = list(response.iter_raw())
    assert len(chunks) > 3
    rows = read_csv(b"".join(chunks).decode("utf-8"))
    assert len(rows) == 300
    assert [int(row["target_id"]) for row in rows] == list(range(299, -1, -1))  # newest first (ids break the tie)


def test_the_export_reads_the_log_in_batches(session: Session, log: Log) -> None:
    principal = accounts.load_principal(session, log.admin)
    statement = service.export_statement(session, principal, service.parse_filters())
    assert statement.get_execution_options()["yield_per"] == service.EXPORT_BATCH


def test_the_export_s_filters_are_checked(client: TestClient, app: FastAPI, session: Session, log: Log) -> None:
    sign_in(client, app, log.admin)
    assert client.get("/gestion/journal.csv?since=hier").status_code == 422
    assert client.get("/gestion/journal.csv", follow_redirects=False).status_code == 200
    client.cookies.clear()
    assert client.get("/gestion/journal.csv", follow_redirects=False).status_code == 303


# --- API


def test_api_scoping(client: TestClient, session: Session, log: Log) -> None:
    data = client.get("/api/v1/audit?limit=200", headers=bearer(session, log.moderator_1)).json()
    assert {item["id"] for item in data["items"]} == log.ids(*AXIS_1_TARGETS, "own act")
    assert data["next_cursor"] is None
    item = next(item for item in data["items"] if item["id"] == log.entries["proposal 1"].id)
    assert item == {
        "id": item["id"], "at": "2027-02-20T12:00:00Z", "actor_id": log.moderator_1.id, "actor_label": "Modeste Un",
        "action": "content.hidden", "target_type": "proposal", "target_id": log.entries["proposal 1"].target_id,
        "channel": "online", "before": {"state": "published"}, "after": {"state": "hidden", "reason": "Hors sujet"},
    }
    admin = client.get("/api/v1/audit?limit=200", headers=bearer(session, log.admin)).json()
    assert log.ids(*log.entries) <= {item["id"] for item in admin["items"]}


def test_api_filters_and_cursor(client: TestClient, session: Session, log: Log) -> None:
    headers = bearer(session, log.admin)
    since = (NOW - timedelta(days=10)).isoformat()
    first = client.get("/api/v1/audit", params={"actor": "Modeste", "target_type": "consultation", "since": since,
                                                "limit": 1}, headers=headers).json()
    assert [item["id"] for item in first["items"]] == [log.entries["consultation 2"].id]
    second = client.get("/api/v1/audit", params={"actor": "Modeste", "target_type": "consultation", "since": since,
                                                 "limit": 1, "cursor": first["next_cursor"]}, headers=headers).json()
    assert [item["id"] for item in second["items"]] == [log.entries["consultation 1"].id]
    assert second["next_cursor"] is None


def test_api_refusals(client: TestClient, session: Session, log: Log) -> None:
    problem(client.get("/api/v1/audit"), 401)
    problem(client.get("/api/v1/audit", headers=bearer(session, make_user(session))), 403)
    problem(client.get("/api/v1/audit", headers=bearer(session, staff(session, Role.evaluator))), 403)
    headers = bearer(session, log.admin)
    data = problem(client.get("/api/v1/audit?since=hier", headers=headers), 422, "/problems/invalid-audit-filter")
    assert data["errors"] == [{"location": ["query", "since"],
                               "message": "Une date au format AAAA-MM-JJ (ou un instant ISO 8601)."}]
    problem(client.get("/api/v1/audit?cursor=nonsense", headers=headers), 422, "/problems/invalid-audit-filter")
    problem(client.get("/api/v1/audit?limit=0", headers=headers), 422)
    problem(client.get("/api/v1/audit?limit=201", headers=headers), 422)
