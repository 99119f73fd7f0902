"""Exports of a consultation: every format tells the same story as the public results; pseudonyms,
coarsening, no hidden content outside moderators, results hidden until the end stay hidden;
CSV injection neutralised in CSV and inert in XLSX and ODS; the open-data bundle validates with
frictionless; PaBuLib files read with pabutools."""

import io
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlmodel import Session

from app.accounts.models import Role
from app.evaluation import exports
from app.evaluation.exports import Format, Place, What, age_bracket, coarsen, pseudonymiser
from app.voting import results as voting_results
from app.voting.methods import budget, majority_judgment, support
from tests.evaluation.exporting import (
    INJECTION,
    NS,
    SECRET,
    ballot_consultation,
    export,
    ods_cells,
    plan,
    principal,
    read_any,
    read_csv,
    read_xlsx,
    read_zip,
    support_consultation,
    zip_member,
)
from tests.evaluation.exporting import support as add_support
from tests.factories import NOW

SPREADSHEETS = (Format.csv, Format.xlsx, Format.ods, Format.json, Format.bundle)


def _published(session: Session, consultation) -> voting_results.Results:
    return voting_results.get_results(session, consultation, now=NOW)


def _support_tally(ballots: list[dict[str, str]]) -> tuple[int, Counter[int]]:
    counts = Counter(int(row["proposition_id"]) for row in ballots if row["proposition_id"])
    return len({row["pseudonyme"] for row in ballots}), counts


# --- formats agree with each other and with the results


def test_every_format_reproduces_the_published_support_results(session: Session) -> None:
    scenario = support_consultation(session)
    consultation = scenario["consultation"]
    evaluator = principal(session, Role.evaluator)
    published = _published(session, consultation)
    seen = {}
    for fmt in SPREADSHEETS:
        tables = read_any(fmt, export(session, evaluator, consultation, fmt))
        participants, counts = _support_tally(tables["bulletins"])
        assert participants == published.participants == 40
        assert {item["proposal_id"]: item["supports"] for item in published.items} == {
            p.id: counts[p.id] for p in scenario["shown"]}
        # Ranked again from the exported ballots with the voting method's own function.
        ranked = support.rank((p.id, counts[p.id], (p.created_at, p.id)) for p in scenario["shown"])
        assert [(r.proposal_id, r.rank) for r in ranked] == [(i["proposal_id"], i["rank"]) for i in published.items]
        assert [(int(r["proposition_id"]), int(r["soutiens"])) for r in tables["resultats"]] == [
            (i["proposal_id"], i["supports"]) for i in published.items]
        # A spreadsheet reads a date back as a moment at midnight: compare the day.
        seen[fmt] = sorted(tuple(sorted({**row, "date": row["date"][:10]}.items())) for row in tables["bulletins"])
    assert len({tuple(rows) for rows in seen.values()}) == 1, "the formats disagree"


def test_every_export_states_its_tallies(session: Session) -> None:
    consultation = support_consultation(session)["consultation"]
    evaluator = principal(session, Role.evaluator)
    published = _published(session, consultation)
    archive = export(session, evaluator, consultation, Format.bundle)
    totals = json.loads(zip_member(archive, "totaux.json"))
    assert totals["participants"] == published.participants
    assert [(p["proposition_id"], p["soutiens"]) for p in totals["propositions"]] == [
        (i["proposal_id"], i["supports"]) for i in published.items]
    assert totals["lignes"]["bulletins"] == len(read_zip(archive)["bulletins"])
    assert f"Participants : {published.participants}" in zip_member(archive, "LISEZMOI.md").decode()
    assert json.loads(export(session, evaluator, consultation, Format.json))["totaux"]["participants"] == 40
    sheet = read_xlsx(export(session, evaluator, consultation, Format.xlsx))["totaux"]
    assert {"cle": "participants", "valeur": "40"} in sheet


@pytest.mark.parametrize("method", ["majority_judgment", "budget"])
def test_ballots_reproduce_majority_judgment_and_budget_results(session: Session, method: str) -> None:
    scenario = ballot_consultation(session, method)
    consultation = scenario["consultation"]
    evaluator = principal(session, Role.evaluator)
    published = _published(session, consultation)
    for fmt in (Format.csv, Format.json, Format.ods):
        ballots = read_any(fmt, export(session, evaluator, consultation, fmt))["bulletins"]
        assert len({row["pseudonyme"] for row in ballots}) == published.participants == 30
        assert scenario["hidden"].id not in {int(r["proposition_id"]) for r in ballots if r["proposition_id"]}
        if method == "majority_judgment":
            tallies: dict[int, Counter[str]] = defaultdict(Counter)
            for row in ballots:
                tallies[int(row["proposition_id"])][row["valeur"]] += 1
            ranked = majority_judgment.rank(tallies)
            assert [(r.proposal_id, r.rank, r.majority_grade) for r in ranked] == [
                (i["proposal_id"], i["rank"], i["majority_grade"]) for i in published.items]
        else:
            votes = Counter(int(r["proposition_id"]) for r in ballots if r["proposition_id"])
            assert any(not r["proposition_id"] for r in ballots), "the empty ballot has its line"
            allocation = budget.allocate(consultation.budget_total, [
                (p.id, p.estimated_cost, votes[p.id], (p.created_at, p.id)) for p in scenario["proposals"]])
            assert [(line.proposal_id, line.votes, line.funded) for line in allocation.lines] == [
                (i["proposal_id"], i["votes"], i["funded"]) for i in published.items]


def test_pabulib_file_reads_with_pabutools(session: Session) -> None:
    from pabutools.election.pabulib import parse_pabulib_from_string

    scenario = ballot_consultation(session, "budget")
    consultation = scenario["consultation"]
    evaluator = principal(session, Role.evaluator)
    published = _published(session, consultation)
    text = export(session, evaluator, consultation, Format.pb, What.ballots).decode()
    instance, profile = parse_pabulib_from_string(text)
    assert len(profile) == published.participants
    assert int(instance.budget_limit) == consultation.budget_total
    votes = Counter(project.name for ballot in profile for project in ballot)
    assert {int(name): n for name, n in votes.items()} == {
        i["proposal_id"]: i["votes"] for i in published.items if i["votes"]}
    # Our rule (ranked by votes, funded while they fit) is PaBuLib's "greedy"; its outcome is in `selected`.
    assert instance.meta["rule"] == "greedy"
    selected = sorted(int(p.name) for p in instance if instance.project_meta[p]["selected"] == "1")
    assert selected == sorted(i["proposal_id"] for i in published.items if i["funded"])
    with pytest.raises(exports.NotABudget):
        plan(session, evaluator, support_consultation(session)["consultation"], Format.pb, What.ballots)


# --- CSV injection


def test_formulas_are_neutralised_in_csv_and_inert_in_xlsx_and_ods(session: Session) -> None:
    consultation = support_consultation(session)["consultation"]
    evaluator = principal(session, Role.evaluator)
    tables = read_zip(export(session, evaluator, consultation, Format.csv))
    titles = [row["titre"] for row in tables["propositions"]]
    assert "'" + INJECTION in titles
    assert INJECTION not in titles
    assert tables["commentaires"][0]["texte"].startswith("'@SUM")
    for rows in tables.values():
        for row in rows:
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value

    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(export(session, evaluator, consultation, Format.xlsx)))
    cells = [cell for row in workbook["propositions"].iter_rows() for cell in row if cell.value == INJECTION]
    assert cells
    assert all(cell.data_type == "s" for cell in cells), "stored as text, never as a formula"
    assert all(cell.data_type != "f" for sheet in workbook for row in sheet.iter_rows() for cell in row)

    ods = export(session, evaluator, consultation, Format.ods)
    assert b"table:formula" not in zip_member(ods, "content.xml")
    found = [cell for cell in ods_cells(ods)["propositions"][1] if "".join(cell.itertext()) == INJECTION]
    assert found
    assert found[0].get(f"{{{NS['office']}}}value-type") == "string"
    assert zip_member(ods, "mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"


# --- privacy


def test_pseudonyms_are_stable_within_a_consultation_and_differ_between_them(session: Session) -> None:
    first = support_consultation(session)
    second = support_consultation(session)
    evaluator = principal(session, Role.evaluator)
    person = first["voters"][4]  # supports two proposals of the first consultation
    add_support(session, second["shown"][0], person)  # and votes in the second one too
    session.flush()
    a1 = read_zip(export(session, evaluator, first["consultation"]))
    a2 = read_zip(export(session, evaluator, first["consultation"], Format.csv))
    assert a1["bulletins"] == a2["bulletins"], "two exports of one consultation give the same pseudonyms"
    ballot_key = pseudonymiser(SECRET, first["consultation"].id, "bulletins")
    mine = ballot_key(f"user:{person.id}")
    assert sum(row["pseudonyme"] == mine for row in a1["bulletins"]) == 2  # their two supports, one pseudonym
    b = read_zip(export(session, evaluator, second["consultation"]))
    assert mine not in {row["pseudonyme"] for row in b["bulletins"]}
    assert pseudonymiser(SECRET, second["consultation"].id, "bulletins")(f"user:{person.id}") in {
        row["pseudonyme"] for row in b["bulletins"]}
    # Comment authors get other pseudonyms than voters: a signed public comment cannot be matched with a ballot.
    commenter = first["voters"][0]
    comment_pseudonym = a1["commentaires"][0]["pseudonyme"]
    assert comment_pseudonym != ballot_key(f"user:{commenter.id}")
    everything = json.dumps(a1, ensure_ascii=False)
    for user in [*first["voters"][:5], first["author"]]:
        assert user.email not in everything
        assert user.display_name not in everything
    assert not re.search(r'"(voter_id|author_id|user_id|email)"', everything)


def test_age_brackets() -> None:
    assert [age_bracket(y, 2027) for y in (2010, 2009, 2003, 2002, 1993, 1992, 1978, 1977, 1963, 1962, None)] == [
        "moins de 18", "18-24", "18-24", "25-34", "25-34", "35-49", "35-49", "50-64", "50-64", "65 et plus",
        "inconnue"]


def _shown(counts: dict, places: dict) -> Counter[Place]:
    sizes: Counter[Place] = Counter()
    for key, n in counts.items():
        sizes[places[key]] += n
    return sizes


def test_coarsening_leaves_no_combination_under_the_threshold() -> None:
    epci_of = {f"{e}{c:04d}": f"E{e}" for e in range(1, 4) for c in range(12)}
    brackets = ("moins de 18", "18-24", "25-34", "35-49", "50-64", "65 et plus", "inconnue")
    rng = random.Random(7)
    for trial in range(300):
        threshold = rng.choice((2, 5, 10))
        counts = {}
        for _ in range(rng.randint(1, 60)):
            commune = rng.choice([*epci_of, None])
            counts[(commune, rng.choice(brackets))] = rng.choice((1, 1, 2, 3, 4, 6, 12, 40))
        places = coarsen(counts, epci_of, threshold)
        sizes = _shown(counts, places)
        total = sum(counts.values())
        assert all(n >= threshold for n in sizes.values()) or (len(sizes) == 1 and total < threshold), (trial, sizes)
        for (commune, bracket), place in places.items():  # only ever coarser, along the chain
            assert place.level in ("commune", "epci", "bassin")
            if place.level == "commune":
                assert place.code == commune
                assert place.bracket == bracket
            if place.level == "epci":
                assert place.code == epci_of[commune]
                assert place.bracket == bracket
            assert place.bracket in (bracket, "inconnue")
    # Big groups keep their commune and bracket.
    assert coarsen({("10000", "25-34"): 9}, epci_of, 5)[("10000", "25-34")] == Place("commune", "10000", "25-34")


def test_ballots_file_holds_no_small_combination(session: Session) -> None:
    consultation = support_consultation(session)["consultation"]
    evaluator = principal(session, Role.evaluator)
    ballots = read_zip(export(session, evaluator, consultation))["bulletins"]
    voters_by_cell: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in ballots:
        voters_by_cell[(row["lieu_niveau"], row["lieu_code"], row["tranche_age"])].add(row["pseudonyme"])
        assert row["lieu_niveau"] in ("commune", "epci", "bassin")
    assert all(len(people) >= 5 for people in voters_by_cell.values()), voters_by_cell
    assert any(level != "bassin" for level, _, _ in voters_by_cell), "not everything is lumped together"
    # A higher threshold coarsens more.
    strict = read_zip(export(session, evaluator, consultation, threshold=15))["bulletins"]
    cells: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in strict:
        cells[(row["lieu_niveau"], row["lieu_code"], row["tranche_age"])].add(row["pseudonyme"])
    assert all(len(people) >= 15 for people in cells.values())


def test_hidden_content_only_in_moderators_exports(session: Session) -> None:
    scenario = support_consultation(session)
    consultation = scenario["consultation"]
    hidden_ids = {str(scenario["hidden"].id), str(scenario["pending"].id)}
    for who in (principal(session, Role.evaluator), principal(session, Role.evaluator, axis_number=1), None):
        tables = read_zip(export(session, who, consultation))
        assert not hidden_ids & {row["id"] for row in tables["propositions"]}
        assert [row["texte"] for row in tables["commentaires"]] == ["'@SUM(1+1)*cmd|' /C calc'!A0"]
        assert not hidden_ids & {row["proposition_id"] for row in tables["bulletins"]}
    for who in (principal(session, Role.moderator, axis_number=1), principal(session, Role.admin),
                principal(session, Role.moderator, consultation=consultation)):
        tables = read_zip(export(session, who, consultation))
        assert hidden_ids <= {row["id"] for row in tables["propositions"]}
        assert {"Commentaire masqué", "Sous une proposition masquée"} <= {r["texte"] for r in tables["commentaires"]}
        # Ballots are the counted ones, for everyone: they reproduce the published results.
        assert not hidden_ids & {row["proposition_id"] for row in tables["bulletins"]}
    moderated = exports.plan_operator_export(session, consultation.id, fmt=Format.csv, what=What.proposals, now=NOW,
                                             secret=SECRET, threshold=5, licence="etalab-2.0", include_hidden=True)
    rows = read_csv(b"".join(exports.export_chunks(session, moderated)))
    assert hidden_ids <= {row["id"] for row in rows}


def test_results_hidden_until_the_end_stay_hidden_in_every_export(session: Session) -> None:
    scenario = support_consultation(session, phase="voting", results_hidden_until_end=True)
    consultation = scenario["consultation"]
    for who in (principal(session, Role.evaluator), principal(session, Role.admin),
                principal(session, Role.moderator, axis_number=1), None):
        for what in (What.ballots, What.results):
            with pytest.raises(voting_results.ResultsHidden):
                plan(session, who, consultation, Format.csv, what)
        for fmt in SPREADSHEETS:
            data = export(session, who, consultation, fmt)
            tables = read_any(fmt, data)
            assert set(tables) <= {"propositions", "commentaires", "totaux"}
            assert {row["soutiens"] for row in tables["propositions"]} == {""}, "no live counts"
        totals = json.loads(zip_member(export(session, who, consultation, Format.bundle), "totaux.json"))
        assert totals["resultats_masques"] is True
        assert "participants" not in totals
    # Once the vote is over, everything is there.
    later = consultation.results_starts_at
    assert "bulletins" in read_zip(export(session, principal(session, Role.evaluator), consultation, now=later))


def test_open_data_bundle_validates_with_frictionless(session: Session, tmp_path: Path) -> None:
    import zipfile

    from frictionless import Package, validate

    consultation = support_consultation(session)["consultation"]
    archive = export(session, principal(session, Role.evaluator), consultation, Format.bundle)
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        assert set(bundle.namelist()) == {"propositions.csv", "bulletins.csv", "resultats.csv", "commentaires.csv",
                                          "totaux.json", "datapackage.json", "LISEZMOI.md"}
        bundle.extractall(tmp_path)
    descriptor = json.loads((tmp_path / "datapackage.json").read_text())
    assert descriptor["licenses"][0]["name"] == "etalab-2.0"
    for resource in descriptor["resources"]:
        assert all(field["description"] for field in resource["schema"]["fields"])
    report = validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    package = Package(str(tmp_path / "datapackage.json"))
    assert package.get_resource("bulletins").read_rows()
    readme = (tmp_path / "LISEZMOI.md").read_text()
    assert "Licence Ouverte" in readme
    assert "pseudonyme" in readme


def test_ods_opens_with_an_opendocument_reader(session: Session) -> None:
    from odf.opendocument import load
    from odf.table import Table, TableCell, TableRow

    consultation = support_consultation(session)["consultation"]
    document = load(io.BytesIO(export(session, principal(session, Role.evaluator), consultation, Format.ods)))
    assert document.mimetype == "application/vnd.oasis.opendocument.spreadsheet"
    tables = {table.getAttribute("name"): table for table in document.spreadsheet.getElementsByType(Table)}
    assert set(tables) == {"propositions", "bulletins", "resultats", "commentaires", "totaux"}
    rows = tables["bulletins"].getElementsByType(TableRow)
    assert len(rows) == 1 + 60
    header = [str(cell) for cell in rows[0].getElementsByType(TableCell)]
    assert header[:3] == ["pseudonyme", "proposition_id", "valeur"]
    first = rows[1].getElementsByType(TableCell)
    assert first[1].getAttribute("valuetype") == "float"
    assert first[8].getAttribute("valuetype") == "date"
