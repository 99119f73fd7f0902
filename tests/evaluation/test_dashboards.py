"""The dashboards, the statistics API and the CSV downloads: who may see them, and that the three
show the same figures (which agree with the raw data, see test_stats)."""

import csv
import html
import io
import re
import xml.etree.ElementTree as ET

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.evaluation import stats
from app.evaluation.stats import Filters
from app.territory.models import Commune
from tests.evaluation.test_stats import World, world_fixture  # noqa: F401 (the fixture `world`)
from tests.factories import NOW, bearer, make_proposal, make_user
from tests.participation import sign_in

PAGES = ["/evaluation", "/evaluation/dans-le-temps", "/evaluation/axes", "/evaluation/territoire",
         "/evaluation/publics", "/evaluation/representativite"]
SVG = "{http://www.w3.org/2000/svg}"


def staff(session: Session, role: Role = Role.evaluator, **scope: int) -> User:
    user = make_user(session)
    accounts.grant_role(session, user, role, now=NOW, **scope)
    session.flush()
    return user


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(found) for found in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


@pytest.mark.parametrize("path", PAGES)
def test_each_dashboard_renders_for_an_evaluator(session: Session, app: FastAPI, client: TestClient, world: World,
                                                 path: str) -> None:
    sign_in(client, app, staff(session))
    response = client.get(path)
    assert response.status_code == 200, response.text[:2000]
    assert "<h1>" in response.text
    charts = svgs(response.text)
    if path != "/evaluation":
        assert charts
    for chart in charts:
        assert chart.get("role") in ("img", "group")
        assert chart.find(f"{SVG}title") is not None
        assert chart.find(f"{SVG}desc") is not None
        assert "style" not in ET.tostring(chart, encoding="unicode")
    # No inline style nor script on the page (CSP).
    assert " style=" not in response.text
    assert "<script>" not in response.text


def test_the_map_has_a_focusable_commune_with_its_name_and_figure(session: Session, app: FastAPI,
                                                                  client: TestClient, world: World) -> None:
    sign_in(client, app, staff(session))
    page = client.get("/evaluation/representativite").text
    maps = [svg for svg in svgs(page) if svg.get("class") == "cr-map"]
    assert len(maps) == 2
    communes = maps[0].findall(f".//{SVG}path[@tabindex='0']")
    assert len(communes) == 362
    lievin = next(p for p in communes if p.get("aria-label", "").startswith("Liévin : "))
    assert lievin.find(f"{SVG}title").text == lievin.get("aria-label")
    assert lievin.get("role") == "img"
    assert len(maps[1].findall(f".//{SVG}path[@tabindex='0']")) == 13  # the EPCIs with communes in the basin
    assert "ADMIN EXPRESS COG 2018" in page
    assert "INSEE" in page


def test_a_resident_is_refused_and_a_visitor_sent_to_sign_in(session: Session, app: FastAPI, client: TestClient,
                                                               world: World) -> None:
    for path in [*PAGES, "/evaluation/donnees.csv?par=axe"]:
        assert client.get(path, follow_redirects=False).status_code == 303
    sign_in(client, app, world.people["lens"])
    for path in [*PAGES, "/evaluation/donnees.csv?par=axe"]:
        assert client.get(path).status_code == 403
    response = client.get("/api/v1/stats/participation?by=axis", headers=bearer(session, world.people["lens"]))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/stats/participation?by=axis", headers={"Authorization": ""}).status_code in (401, 403)


def test_an_evaluator_of_axis_1_cannot_see_axis_2(session: Session, app: FastAPI, client: TestClient,
                                                   world: World) -> None:
    user = staff(session, axis_id=world.axis1.id)
    headers = bearer(session, user)
    assert client.get("/api/v1/stats/participation?by=consultation&axis=1", headers=headers).status_code == 200
    assert client.get("/api/v1/stats/participation?by=consultation&axis=2", headers=headers).status_code == 403
    c = world.consultations["c"]  # in axis 2
    assert client.get(f"/api/v1/stats/participation?by=day&consultation={c.id}", headers=headers).status_code == 403
    assert client.get("/api/v1/stats/participation?by=axis", headers=headers).status_code == 403  # the whole platform
    assert client.get("/api/v1/stats/representativeness?axis=2", headers=headers).status_code == 403
    sign_in(client, app, user)
    page = client.get("/evaluation/axes")  # defaults to the axis entrusted
    assert page.status_code == 200
    assert world.consultations["a"].title in page.text
    assert c.title not in page.text
    assert client.get(f"/evaluation/axes?axe={world.axis2.id}").status_code == 403
    assert client.get(f"/evaluation/donnees.csv?par=jour&consultation={c.id}").status_code == 403
    # A moderator of axis 2 sees axis 2.
    moderator = staff(session, Role.moderator, axis_id=world.axis2.id)
    assert client.get("/api/v1/stats/participation?by=commune&axis=2",
                      headers=bearer(session, moderator)).status_code == 200


def _table(page: str, caption: str) -> dict[str, tuple[str, str]]:
    """Rows of the table with this caption: label → (participants, contributions) as shown."""
    start = page.index(caption)
    body = page[start:page.index("<tfoot>", start)]
    rows = re.findall(r'<tr>\s*<th scope="row">(.*?)</th>\s*<td class="cr-num">(.*?)</td>\s*'
                      r'<td class="cr-num">(.*?)</td>', body, flags=re.S)
    return {_plain(label): (_plain(p).replace("\u202f", "").replace("\xa0", ""),
                            _plain(c).replace("\u202f", "").replace("\xa0", "")) for label, p, c in rows}


def _plain(cell: str) -> str:
    return html.unescape(re.sub(r"<.*?>", "", cell)).strip()


@pytest.mark.parametrize(("page", "by", "slug", "caption"), [
    ("axes", "axis", "axe", "Par axe : participants et contributions"),
    ("axes", "consultation", "consultation", "Par consultation : participants et contributions"),
    ("territoire", "epci", "epci", "Par intercommunalité : participants et contributions"),
    ("territoire", "commune", "commune", "Par commune : participants et contributions"),
    ("publics", "age_bracket", "age", "Par tranche d’âge : participants et contributions"),
    ("publics", "channel", "canal", "Par canal : participants et contributions"),
    ("dans-le-temps", "day", "jour", "Par jour : participants et contributions"),
    ("dans-le-temps", "week", "semaine", "Par semaine : participants et contributions"),
])
def test_page_csv_and_api_show_the_same_figures(session: Session, app: FastAPI, client: TestClient, world: World,
                                                page: str, by: str, slug: str, caption: str) -> None:
    user = staff(session)
    sign_in(client, app, user)
    shown = _table(client.get(f"/evaluation/{page}").text, caption)
    download = client.get(f"/evaluation/donnees.csv?par={slug}")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["Clé", rows[0][1], "Participants", "Contributions"]
    in_csv = {row[1]: (row[2], row[3]) for row in rows[1:]}
    total = in_csv.pop("Total")
    assert in_csv == shown  # exactly what the page shows, suppressed cells included
    api = client.get(f"/api/v1/stats/participation?by={by}", headers=bearer(session, user)).json()
    assert api["by"] == by
    assert {str(i["key"]): (str(i["participants"]), str(i["contributions"])) for i in api["items"]} == {
        row[0]: (row[2], row[3]) for row in rows[1:-1]}
    assert (str(api["total"]["participants"]), str(api["total"]["contributions"])) == total
    # And the truth behind them: the totals of the raw data (see test_stats), where they are shown.
    table = stats.tables(session, Filters(), [by], now=NOW, threshold=5).tables[by]
    if total[1].isdigit():
        assert int(total[1]) == table.raw_total[1]
    assert api["suppressed"] == any(v in ("<5", "s") for pair in in_csv.values() for v in pair) or api["suppressed"]


def test_suppressed_cells_are_marked_in_the_api(session: Session, client: TestClient, world: World) -> None:
    headers = bearer(session, staff(session))
    body = client.get("/api/v1/stats/participation?by=commune", headers=headers).json()
    assert body["suppressed"] is True
    values = {item["key"]: item["participants"] for item in body["items"]}
    assert values["62498"] in ("<5", "s")  # Lens: one participant
    assert all(v in ("<5", "s") or (isinstance(v, int) and v >= 5) for v in values.values())


def test_representativeness_api_and_csv(session: Session, app: FastAPI, client: TestClient, world: World) -> None:
    user = staff(session)
    headers = bearer(session, user)
    body = client.get("/api/v1/stats/representativeness?level=commune", headers=headers).json()
    assert len(body["items"]) == 362
    assert body["sources"]["population"].startswith("INSEE")
    assert len(body["least_reached"]) == stats.LEAST_REACHED
    epcis = client.get("/api/v1/stats/representativeness?level=epci", headers=headers).json()
    assert sum(item["population"] for item in epcis["items"]) == body["population"]
    sign_in(client, app, user)
    download = client.get("/evaluation/representativite.csv?niveau=commune")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert len(rows) == 1 + 362 + 1
    api = {i["key"]: (str(i["participants"]), i["per_thousand"], i["ratio_to_average"]) for i in body["items"]}
    assert {row[0]: (row[3], row[4], row[5]) for row in rows[1:-1]} == api


def test_filters_are_kept_in_links_and_refused_when_wrong(session: Session, app: FastAPI, client: TestClient,
                                                          world: World) -> None:
    sign_in(client, app, staff(session))
    page = client.get(f"/evaluation/axes?axe={world.axis1.id}&depuis=2027-02-01&jusqu_au=2027-03-01")
    assert page.status_code == 200
    assert f"/evaluation/donnees.csv?axe={world.axis1.id}&amp;depuis=2027-02-01&amp;jusqu_au=2027-03-01" in page.text
    wrong = client.get("/evaluation/axes?depuis=hier")
    assert wrong.status_code == 400
    assert 'value="hier"' in wrong.text  # what was typed comes back, with the error beside it
    assert "AAAA-MM-JJ" in wrong.text


def test_the_subtraction_attack_fails_on_what_the_api_publishes(session: Session, client: TestClient,
                                                                  world: World) -> None:
    """From the totals and the sibling cells shown, no suppressed count can be worked out: a group
    (the rows of a table under their total, the communes of an EPCI under its row) never has
    exactly one suppressed cell, and what subtraction leaves is shared by several cells."""
    headers = bearer(session, staff(session))
    for _ in range(6):  # enough people in one commune for some figures to be shown
        make_proposal(session, world.consultations["a"], make_user(session, commune="59178"))
    communes = client.get("/api/v1/stats/participation?by=commune", headers=headers).json()
    epcis = client.get("/api/v1/stats/participation?by=epci", headers=headers).json()
    age = client.get("/api/v1/stats/participation?by=age_bracket", headers=headers).json()
    assert communes["suppressed"]
    of_epci = {c.insee_code: c.epci_siren for c in session.exec(select(Commune))}
    for column in ("participants", "contributions"):
        groups: list[tuple[list[int | str], int | str]] = [
            ([i[column] for i in epcis["items"]], epcis["total"][column]),
            ([i[column] for i in age["items"]], age["total"][column]),
        ]
        for epci in epcis["items"]:
            members = [i[column] for i in communes["items"] if of_epci.get(i["key"], "") == epci["key"]]
            groups.append((members, epci[column]))
        for members, total in groups:
            hidden = [m for m in members if isinstance(m, str)]
            if not isinstance(total, int) or not hidden:
                continue
            assert len(hidden) >= 2, (column, members, total)


def test_api_filters_by_period_epci_and_axis_slug(session: Session, client: TestClient, world: World) -> None:
    headers = bearer(session, staff(session))
    days = client.get("/api/v1/stats/participation?by=day&since=2027-02-26&until=2027-02-28",
                      headers=headers).json()
    assert [item["key"] for item in days["items"]] == ["2027-02-26", "2027-02-27", "2027-02-28"]
    lens_lievin = client.get("/api/v1/stats/participation?by=commune&epci=246200364", headers=headers).json()
    assert {item["key"] for item in lens_lievin["items"]} == {
        c.insee_code for c in session.exec(select(Commune).where(Commune.epci_siren == "246200364"))}
    by_slug = client.get(f"/api/v1/stats/participation?by=consultation&axis={world.axis1.slug}",
                         headers=headers).json()
    by_number = client.get("/api/v1/stats/participation?by=consultation&axis=1", headers=headers).json()
    assert by_slug == by_number
    assert {item["key"] for item in by_number["items"]} == {
        str(world.consultations["a"].id), str(world.consultations["b"].id)}
    assert client.get("/api/v1/stats/participation?by=nothing", headers=headers).status_code == 422
    assert client.get("/api/v1/stats/participation?by=day&since=2027-03-02&until=2027-03-01",
                      headers=headers).status_code == 422
    assert client.get("/api/v1/stats/participation?by=axis&axis=99", headers=headers).status_code == 404


def test_years_of_days_fall_back_to_weeks(session: Session, app: FastAPI, client: TestClient, world: World) -> None:
    sign_in(client, app, staff(session))
    page = client.get("/evaluation/dans-le-temps?depuis=2020-01-01&jusqu_au=2027-03-01")
    assert page.status_code == 200
    assert "Par semaine : participants et contributions" in page.text
    assert "Par jour : participants et contributions" not in page.text
    assert "choisissez des dates pour voir le détail par jour" in page.text


def test_csv_neutralises_formulas_in_names(session: Session, app: FastAPI, client: TestClient, world: World) -> None:
    world.consultations["a"].title = '=HYPERLINK("http://example.com/x","clic")'
    session.add(world.consultations["a"])
    session.flush()
    sign_in(client, app, staff(session))
    rows = list(csv.reader(io.StringIO(client.get("/evaluation/donnees.csv?par=consultation").text)))
    assert ["'" + world.consultations["a"].title] == [row[1] for row in rows if "HYPERLINK" in row[1]]


def test_the_api_is_described_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/stats/participation" in paths
    assert "/api/v1/stats/representativeness" in paths
