"""Helpers of the export tests: a voted consultation, and readers for every export format."""

import csv
import io
import json
import zipfile
from datetime import date, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

from openpyxl import load_workbook
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.consultations.models import Consultation
from app.evaluation import exports
from app.evaluation.exports import Format, What
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis, Commune
from app.voting.models import Ballot, BallotChoice, BallotGrade, SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user

SECRET = "x" * 40
INJECTION = "=HYPERLINK(\"http://evil.example\",\"clic\")"


def communes(session: Session, n_epcis: int = 2, per_epci: int = 3) -> list[Commune]:
    """A few communes from a few EPCIs, in a stable order."""
    found: list[Commune] = []
    sirens = sorted({c.epci_siren for c in session.exec(select(Commune))})[:n_epcis]
    for siren in sirens:
        found += list(session.exec(select(Commune).where(Commune.epci_siren == siren)
                                   .order_by(Commune.insee_code)).all())[:per_epci]
    return found


def principal(session: Session, role: Role | None = None, *, axis_number: int | None = None,
              consultation: Consultation | None = None) -> Principal:
    user = make_user(session)
    if role is not None:
        axis_id = None
        if axis_number is not None:
            axis_id = session.exec(select(Axis).where(Axis.number == axis_number)).one().id
        accounts.grant_role(session, user, role, now=NOW, axis_id=axis_id,
                            consultation_id=consultation.id if consultation else None)
    session.flush()
    return accounts.load_principal(session, user)


def support(session: Session, proposal: Proposal, voter: User, *, channel: str = "online",
            when: datetime | None = None) -> None:
    session.add(SupportVote(proposal_id=proposal.id, consultation_id=proposal.consultation_id, voter_id=voter.id,
                            channel=channel, cast_at=when or NOW - timedelta(days=12)))
    proposal.supports_count += 1
    session.add(proposal)


def voters(session: Session, count: int, places: list[Commune], *, start_year: int = 1950) -> list[User]:
    """`count` residents spread over `places` and over the years."""
    return [make_user(session, commune=places[i % len(places)].insee_code, birth_year=start_year + (i * 7) % 60)
            for i in range(count)]


def support_consultation(session: Session, *, phase: str = "results", **fields: Any) -> dict[str, Any]:
    """A support vote over: 3 published proposals (one titled with a formula), a hidden one, a
    pending one; 40 voters; a published comment (with a formula) and a hidden one."""
    consultation = make_consultation(session, phase=phase, **fields)
    author = make_user(session, name="Auteure Célèbre")
    shown = [make_proposal(session, consultation, author, title=INJECTION),
             make_proposal(session, consultation, author, title="Des bancs au parc"),
             make_proposal(session, consultation, author, title="Une piste cyclable")]
    hidden = make_proposal(session, consultation, author, title="Proposition masquée", state="hidden")
    pending = make_proposal(session, consultation, author, title="Proposition en attente", state="pending")
    people = voters(session, 40, communes(session))
    for i, person in enumerate(people):
        support(session, shown[i % 3], person, channel="assisted" if i % 10 == 0 else "online")
        if i % 2 == 0:
            support(session, shown[(i + 1) % 3], person)
        if i % 5 == 0:
            support(session, hidden, person)
    session.add(Comment(proposal_id=shown[0].id, author_id=people[0].id, body="@SUM(1+1)*cmd|' /C calc'!A0",
                        body_html="<p>x</p>", created_at=NOW, updated_at=NOW))
    session.add(Comment(proposal_id=shown[1].id, author_id=people[1].id, body="Commentaire masqué",
                        body_html="<p>x</p>", state="hidden", created_at=NOW, updated_at=NOW))
    session.add(Comment(proposal_id=hidden.id, author_id=people[2].id, body="Sous une proposition masquée",
                        body_html="<p>x</p>", created_at=NOW, updated_at=NOW))
    session.flush()
    return {"consultation": consultation, "shown": shown, "hidden": hidden, "pending": pending, "voters": people,
            "author": author}


def ballot_consultation(session: Session, method: str, *, voters_count: int = 30) -> dict[str, Any]:
    """A majority-judgment or budget vote over, with 4 proposals (one hidden) and `voters_count` ballots
    (one of them empty for budgets)."""
    fields: dict[str, Any] = {"budget_total": 100_000} if method == "budget" else {}
    consultation = make_consultation(session, phase="results", voting_method=method, **fields)
    author = make_user(session)
    proposals = [make_proposal(session, consultation, author, title=f"Projet {i}", estimated_cost=cost)
                 for i, cost in enumerate((40_000, 30_000, 50_000))]
    hidden = make_proposal(session, consultation, author, title="Projet masqué", state="hidden",
                           estimated_cost=10_000)
    grades = ("excellent", "bien", "passable", "a_rejeter", "tres_bien", "assez_bien", "insuffisant")
    for i, person in enumerate(voters(session, voters_count, communes(session))):
        ballot = Ballot(consultation_id=consultation.id, voter_id=person.id, channel="online",
                        cast_at=NOW - timedelta(days=12), updated_at=NOW - timedelta(days=11))
        session.add(ballot)
        session.flush()
        for j, proposal in enumerate([*proposals, hidden]):
            if method == "majority_judgment":
                session.add(BallotGrade(ballot_id=ballot.id, proposal_id=proposal.id, grade=grades[(i + j * 3) % 7]))
            elif i != 0 and (i + j) % 3 != 0:
                session.add(BallotChoice(ballot_id=ballot.id, proposal_id=proposal.id))
    session.flush()
    return {"consultation": consultation, "proposals": proposals, "hidden": hidden}


def plan(session: Session, who: Principal | None, consultation: Consultation, fmt: Format = Format.csv,
         what: What = What.all, *, threshold: int = 5, now: datetime = NOW) -> exports.ExportPlan:
    if who is None:
        return exports.plan_operator_export(session, consultation.id or 0, fmt=fmt, what=what, now=now,
                                            secret=SECRET, threshold=threshold, licence="etalab-2.0")
    return exports.plan_export(session, who, consultation.id or 0, fmt=fmt, what=what, now=now, secret=SECRET,
                               threshold=threshold, licence="etalab-2.0")


def export(session: Session, who: Principal | None, consultation: Consultation, fmt: Format = Format.csv,
           what: What = What.all, **options: Any) -> bytes:
    return b"".join(exports.export_chunks(session, plan(session, who, consultation, fmt, what, **options)))


# --- readers: every format to {table: [row dicts with text values]}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()[:19]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def read_zip(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name.removesuffix(".csv"): read_csv(archive.read(name))
                for name in archive.namelist() if name.endswith(".csv")}


def zip_member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def read_xlsx(data: bytes) -> dict[str, list[dict[str, str]]]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    found = {}
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        header = [str(h) for h in rows[0]]
        padded = [(*row, *([None] * (len(header) - len(row)))) for row in rows[1:]]  # trailing blanks are cut
        found[sheet.title] = [dict(zip(header, (_text(v) for v in row), strict=True)) for row in padded]
    workbook.close()
    return found


NS = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
      "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
      "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}


def ods_cells(data: bytes) -> dict[str, list[list[ElementTree.Element]]]:
    root = ElementTree.fromstring(zip_member(data, "content.xml"))
    return {table.get(f"{{{NS['table']}}}name"): [list(row) for row in table.findall("table:table-row", NS)]
            for table in root.iter(f"{{{NS['table']}}}table")}


def _ods_value(cell: ElementTree.Element) -> str:
    kind = cell.get(f"{{{NS['office']}}}value-type")
    if kind == "float":
        return _text(float(cell.get(f"{{{NS['office']}}}value") or 0))
    if kind == "date":
        return (cell.get(f"{{{NS['office']}}}date-value") or "")[:19]
    if kind == "boolean":
        return cell.get(f"{{{NS['office']}}}boolean-value") or ""
    return "".join("".join(p.itertext()) for p in cell.findall("text:p", NS))


def read_ods(data: bytes) -> dict[str, list[dict[str, str]]]:
    found = {}
    for name, rows in ods_cells(data).items():
        header = [_ods_value(c) for c in rows[0]]
        found[name] = [dict(zip(header, (_ods_value(c) for c in row), strict=True)) for row in rows[1:]]
    return found


def read_json(data: bytes) -> dict[str, list[dict[str, str]]]:
    document = json.loads(data)
    return {name: [{k: _text(v) for k, v in row.items()} for row in rows]
            for name, rows in document["tables"].items()}


def read_any(fmt: Format, data: bytes) -> dict[str, list[dict[str, str]]]:
    return {Format.csv: read_zip, Format.bundle: read_zip, Format.xlsx: read_xlsx, Format.ods: read_ods,
            Format.json: read_json}[fmt](data)
