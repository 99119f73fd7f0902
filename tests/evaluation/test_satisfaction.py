"""Residents' satisfaction for evaluators (/evaluation/satisfaction and its CSV): the figures agree
with the ratings, the table by EPCI hides small counts so that no subtraction recovers them, the
reader's scope is respected, and each CSV holds exactly what its table shows."""

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions import evaluations
from app.actions.models import ActionEvaluation, PublicAction
from app.consultations.models import Consultation
from app.evaluation import exports, satisfaction
from app.evaluation.privacy import Mark
from app.evaluation.stats import FiguresForbidden, Filters
from tests.factories import NOW, make_consultation, make_user
from tests.participation import sign_in

LENS_LIEVIN, HENIN_CARVIN = "246200364", "246200299"
THRESHOLD = 5


@dataclass
class World:
    axis1: Consultation
    axis2: Consultation
    benches: PublicAction  # axis 1
    garden: PublicAction  # axis 1
    bus: PublicAction  # axis 2


def _action(session: Session, consultation: Consultation, title: str) -> PublicAction:
    action = PublicAction(consultation_id=consultation.id or 0, title=title, owner="Mairie", created_at=NOW,
                          updated_at=NOW)
    session.add(action)
    session.flush()
    return action


def _rate(session: Session, action: PublicAction, rating: int, *, commune: str | None = "62510",
          erased: bool = False) -> None:
    user = make_user(session, commune=commune or "62510")
    evaluations.evaluate(session, accounts.load_principal(session, user), action, rating=rating, comment=None,
                         now=NOW)
    if commune is None:  # a resident who rated, and whose commune is no longer known
        user.commune_insee = None
        session.add(user)
    if erased:
        for evaluation in session.exec(select(ActionEvaluation).where(ActionEvaluation.user_id == user.id)):
            evaluation.user_id = None
            session.add(evaluation)
    session.flush()


@pytest.fixture
def world(session: Session) -> World:
    axis1 = make_consultation(session, phase="follow_up", axis_number=1)
    axis2 = make_consultation(session, phase="follow_up", axis_number=2)
    benches = _action(session, axis1, "Des bancs place de la mairie")
    garden = _action(session, axis1, "Un jardin partagé")
    bus = _action(session, axis2, "Une navette le dimanche")
    for rating in (5, 4, 4, 3, 5, 2):  # six residents of Lens-Liévin
        _rate(session, benches, rating, commune="62510")
    for rating in (1, 2):  # two of Hénin-Carvin
        _rate(session, garden, rating, commune="62427")
    _rate(session, garden, 4, erased=True)  # an erased account: "inconnue"
    _rate(session, garden, 3, commune=None)  # no commune declared: "inconnue" too
    _rate(session, benches, 3, commune="62498", erased=True)
    for rating in (5, 5, 4, 4, 3):
        _rate(session, bus, rating, commune="62498")
    return World(axis1, axis2, benches, garden, bus)


def _evaluator(session: Session, **scope: int) -> User:
    user = make_user(session)
    accounts.grant_role(session, user, Role.evaluator, now=NOW, **scope)
    session.flush()
    return user


def _principal(session: Session, user: User) -> accounts.Principal:
    return accounts.load_principal(session, user)


def _found(session: Session, user: User, filters: Filters | None = None) -> satisfaction.Satisfaction:
    return satisfaction.satisfaction(session, _principal(session, user), filters or Filters(), threshold=THRESHOLD)


# --- figures


def test_the_figures_agree_with_the_ratings(session: Session, world: World) -> None:
    found = _found(session, _evaluator(session))
    rows = session.exec(select(ActionEvaluation)).all()
    assert found.tables["action"].count == len(rows) == 16
    assert found.tables["action"].total == sum(r.rating for r in rows)
    by_action = {row.key: row for row in found.tables["action"].rows}
    for action in (world.benches, world.garden, world.bus):
        ratings = [r.rating for r in rows if r.action_id == action.id]
        row = by_action[str(action.id)]
        assert row.count == len(ratings)
        assert row.average == round(sum(ratings) / len(ratings), 2)
        session.refresh(action)
        assert row.average == evaluations.summary(session, action).average  # as on the action page
    by_axis = {row.key: row for row in found.tables["axis"].rows}
    assert by_axis[str(world.axis1.axis_id)].count == 11
    assert by_axis[str(world.axis2.axis_id)].count == 5
    epci = {row.key: row for row in found.tables["epci"].rows}
    assert epci[LENS_LIEVIN].count == 6 + 5
    assert epci[HENIN_CARVIN].count == 2
    assert epci[satisfaction.UNKNOWN].count == 3  # erased accounts count, under "inconnue"
    assert sum(row.count for row in found.tables["epci"].rows) == found.tables["epci"].count == 16


def test_by_action_and_axis_are_public_and_shown_whole(session: Session, world: World) -> None:
    found = _found(session, _evaluator(session))
    assert found.public
    for by in ("action", "axis"):
        table = found.tables[by]
        assert not table.protected
        assert all(row.shown_count == row.count for row in table.rows)


def test_small_counts_by_epci_are_suppressed_and_cannot_be_recovered(session: Session, world: World) -> None:
    table = _found(session, _evaluator(session)).tables["epci"]
    assert table.protected
    assert table.suppressed
    for row in table.rows:
        if row.count < THRESHOLD:
            assert row.mark is not Mark.shown, row.label
            assert row.shown_average is None
        if row.mark is Mark.shown:
            assert row.shown_count == row.count
            assert row.shown_average == row.average
        else:
            assert row.shown_count in ("<5", "s")
    # The subtraction attack: the total less the rows shown is the hidden rows' pool, never a small number.
    assert isinstance(table.shown_count, int)
    pool = table.shown_count - sum(r.shown_count for r in table.rows if isinstance(r.shown_count, int))
    assert pool == 0 or pool >= THRESHOLD
    # Lens-Liévin (11) is shown; Hénin-Carvin (2) and the unknown (3) are not.
    marks = {row.key: row.mark for row in table.rows}
    assert marks[LENS_LIEVIN] is Mark.shown
    assert marks[HENIN_CARVIN] is Mark.primary


def test_with_a_period_or_an_epci_every_table_is_protected(session: Session, world: World) -> None:
    found = _found(session, _evaluator(session), Filters(epci_siren=HENIN_CARVIN))
    assert not found.public
    assert found.tables["action"].count == 2
    for table in found.tables.values():
        assert table.protected
        assert all(row.mark is not Mark.shown for row in table.rows if row.count < THRESHOLD)
    later = _found(session, _evaluator(session), Filters(since=NOW.date().replace(year=2028)))
    assert later.tables["action"].count == 0


def test_the_pool_of_hidden_rows_never_holds_fewer_than_the_threshold() -> None:
    rows = [satisfaction.SatisfactionRow("a", "A", 9, 30), satisfaction.SatisfactionRow("b", "B", 2, 4),
            satisfaction.SatisfactionRow("c", "C", 7, 20), satisfaction.SatisfactionRow("d", "D", 0, 0)]
    table = satisfaction.SatisfactionTable("epci", rows, 18, 54, 18, True)
    satisfaction._protect(table, THRESHOLD)
    hidden = sum(row.count for row in rows if row.mark is not Mark.shown)
    assert hidden >= THRESHOLD
    assert rows[0].mark is Mark.shown  # the largest stays


# --- who may see them


def test_scopes(session: Session, world: World) -> None:
    moderator = make_user(session)
    accounts.grant_role(session, moderator, Role.moderator, now=NOW, axis_id=world.axis2.axis_id)
    session.flush()
    found = _found(session, moderator)  # no filter chosen: their axis
    assert found.filters.axis_id == world.axis2.axis_id
    assert {row.key for row in found.tables["action"].rows} == {str(world.bus.id)}
    with pytest.raises(FiguresForbidden):
        _found(session, moderator, Filters(axis_id=world.axis1.axis_id))
    with pytest.raises(FiguresForbidden):
        _found(session, make_user(session))
    scoped = _found(session, _evaluator(session, axis_id=world.axis1.axis_id))
    assert found.tables["action"].count == 5
    assert scoped.tables["action"].count == 11


def test_the_page_and_its_access(session: Session, app: FastAPI, client: TestClient, world: World) -> None:
    assert client.get("/evaluation/satisfaction", follow_redirects=False).status_code == 303
    sign_in(client, app, make_user(session))
    assert client.get("/evaluation/satisfaction").status_code == 403
    assert client.get("/evaluation/satisfaction.csv").status_code == 403
    sign_in(client, app, _evaluator(session))
    page = client.get("/evaluation/satisfaction")
    assert page.status_code == 200
    assert "<h1>Satisfaction des habitants</h1>" in page.text
    assert 'aria-current="page">Satisfaction</a>' in page.text
    assert " style=" not in page.text
    assert page.text.count('role="img"') == 3
    assert "Des bancs place de la mairie" in page.text
    assert "3,7" in page.text  # the benches: 26 / 7


def _table_cells(page: str, slug: str) -> list[list[str]]:
    section = re.search(rf'aria-labelledby="section-{slug}".*?</section>', page, re.S)
    assert section
    cells = []
    for row in re.findall(r"<tr>(.*?)</tr>", section.group(0), re.S)[1:]:
        found = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        cells.append(found)
    return cells


@pytest.mark.parametrize("slug", ["action", "axe", "epci"])
def test_each_csv_holds_exactly_what_its_table_shows(session: Session, app: FastAPI, client: TestClient,
                                                     world: World, slug: str) -> None:
    sign_in(client, app, _evaluator(session))
    page = client.get("/evaluation/satisfaction").text
    assert f'href="/evaluation/satisfaction.csv?par={slug}"' in page
    response = client.get(f"/evaluation/satisfaction.csv?par={slug}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert lines[0][2:] == ["Évaluations", "Moyenne sur 5"]
    shown = _table_cells(page, slug)
    assert len(lines) - 1 == len(shown)
    for line, cells in zip(lines[1:], shown, strict=True):
        assert line[1] == cells[0].replace("&#39;", "'").replace("&amp;", "&") or line[0] == ""
        assert line[2] == cells[1].replace("&lt;", "<")
        assert line[3] == cells[2].replace(",", ".")
    if slug == "epci":
        assert "<5" in {line[2] for line in lines}


def test_an_unknown_grouping_is_refused(session: Session, app: FastAPI, client: TestClient, world: World) -> None:
    sign_in(client, app, _evaluator(session))
    assert client.get("/evaluation/satisfaction.csv?par=commune").status_code == 422


# --- the export of a consultation's ratings (--what evaluations)


def _export(session: Session, who: accounts.Principal, consultation: Consultation, fmt: str = "csv") -> bytes:
    from tests.evaluation.exporting import export

    return export(session, who, consultation, exports.Format(fmt), exports.What.evaluations, threshold=THRESHOLD)


def test_the_export_holds_every_rating_without_anyone_and_with_coarsened_epcis(session: Session,
                                                                               world: World) -> None:
    from tests.evaluation.exporting import principal, read_csv

    hidden = session.exec(select(ActionEvaluation).where(ActionEvaluation.action_id == world.garden.id)).first()
    assert hidden is not None
    hidden.comment, hidden.comment_html, hidden.state = "Injurieux", "<p>Injurieux</p>", "hidden"
    session.add(hidden)
    session.flush()
    evaluator = principal(session, Role.evaluator)
    data = _export(session, evaluator, world.axis1)
    rows = read_csv(data)
    assert list(rows[0]) == ["action_id", "action", "note", "commentaire", "masque", "canal", "niveau_territoire",
                             "code_territoire", "territoire", "date"]
    ratings = session.exec(select(ActionEvaluation).join(PublicAction).where(
        PublicAction.consultation_id == world.axis1.id)).all()
    assert len(rows) == len(ratings) == 11
    assert sorted(int(r["note"]) for r in rows) == sorted(r.rating for r in ratings)
    for action in (world.benches, world.garden):  # the averages of the action pages come back from the file
        notes = [int(r["note"]) for r in rows if r["action_id"] == str(action.id)]
        session.refresh(action)
        assert round(sum(notes) / len(notes), 2) == evaluations.summary(session, action).average
    # Lens-Liévin (6 raters here) is named; Hénin-Carvin (2) and the unknown (3) are the basin's.
    places = Counter((r["niveau_territoire"], r["code_territoire"]) for r in rows)
    assert places == {("epci", LENS_LIEVIN): 6, ("bassin", ""): 5}
    text = data.decode()
    assert "Injurieux" not in text  # hidden comments: moderators' exports only
    for user_id in session.exec(select(ActionEvaluation.user_id)).all():
        assert f"user:{user_id}" not in text
    moderator = principal(session, Role.moderator, axis_number=1)
    assert "Injurieux" in _export(session, moderator, world.axis1).decode()


def test_the_export_is_refused_to_residents(session: Session, world: World) -> None:
    from tests.evaluation.exporting import principal

    with pytest.raises(exports.ExportForbidden):
        _export(session, principal(session), world.axis1)


def test_the_evaluations_bundle_validates_with_frictionless(session: Session, world: World, tmp_path: Path) -> None:
    import zipfile

    from frictionless import validate

    from tests.evaluation.exporting import principal

    archive = _export(session, principal(session, Role.evaluator), world.axis1, "bundle")
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        assert "evaluations.csv" in bundle.namelist()
        bundle.extractall(tmp_path)
    report = validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "json"])
def test_the_export_in_every_format_has_the_same_rows(session: Session, world: World, fmt: str) -> None:
    from tests.evaluation.exporting import principal, read_any

    who = principal(session, Role.evaluator)
    found = read_any(exports.Format(fmt), _export(session, who, world.axis1, fmt))
    assert len(found["evaluations"]) == 11
