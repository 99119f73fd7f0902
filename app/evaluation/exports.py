"""Exports of a consultation: proposals, anonymised ballots, results and comments, in CSV, XLSX,
ODS, JSON, PaBuLib (.pb) and an open-data bundle (zip with datapackage.json and a README).

Who gets what:
- evaluators of the consultation's scope, its moderators and admins may export
  (Action.view_participation_figures); everyone else is refused;
- hidden and pending proposals, hidden comments and comments under hidden proposals appear only
  in the exports of the consultation's moderators (and admins); others get what the public sees;
- results hidden until the end of the vote stay hidden for everyone, moderators included: no
  ballots, no results, no support counts until then (what=ballots|results is refused; `all`
  leaves them out and says so).

Privacy: no names, e-mails nor account ids. A voter appears as a pseudonym, a keyed hash
(HMAC-SHA256) with a key derived from the server secret and the consultation id: stable within
one consultation, different between consultations. Comment authors get pseudonyms from another
key, so that a comment (public, signed on the site) cannot be matched with a ballot. In the
ballots file, the commune and the age bracket are coarsened (commune → EPCI → basin, then
bracket → unknown) until every (place, bracket) combination holds at least `privacy_threshold`
voters; the combinations are counted first with one GROUP BY, then rows are streamed.

Every export states the tallies its ballots must reproduce (the results as the public sees them)."""

import hashlib
import hmac
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.policy import Action, Principal, can
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.core.db import UtcDateTime
from app.core.errors import Conflict, Forbidden
from app.core.i18n import N_
from app.evaluation import ratings
from app.evaluation.formats import (
    Column,
    Row,
    Sheet,
    Table,
    csv_chunks,
    file_chunks,
    iso,
    json_chunks,
    pabulib_chunks,
    write_ods,
    write_xlsx,
    zip_chunks,
)
from app.proposals.models import PUBLIC_STATES, Comment, CommentState, Proposal
from app.territory.models import Axis, Commune, Epci
from app.voting import results as voting_results
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot, BallotChoice, BallotGrade, SupportVote

YIELD_PER = 2000  # rows fetched at a time (a server-side cursor on PostgreSQL)


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    ods = "ods"
    json = "json"
    bundle = "bundle"
    pb = "pb"


class What(StrEnum):
    proposals = "proposals"
    ballots = "ballots"
    results = "results"
    comments = "comments"
    evaluations = "evaluations"  # residents' ratings of the consultation's actions (app.evaluation.ratings)
    all = "all"


MEDIA_TYPES = {
    Format.csv: "text/csv; charset=utf-8",
    Format.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.ods: "application/vnd.oasis.opendocument.spreadsheet",
    Format.json: "application/json",
    Format.bundle: "application/zip",
    Format.pb: "text/plain; charset=utf-8",
}
EXTENSIONS = {Format.csv: "csv", Format.xlsx: "xlsx", Format.ods: "ods", Format.json: "json", Format.bundle: "zip",
              Format.pb: "pb"}
LICENCES = {
    "etalab-2.0": {"name": "etalab-2.0", "title": "Licence Ouverte / Open Licence version 2.0",
                   "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
    "odbl-1.0": {"name": "ODbL-1.0", "title": "Open Data Commons Open Database License 1.0",
                 "path": "https://opendatacommons.org/licenses/odbl/1-0/"},
}


class ExportForbidden(Forbidden):
    code = "export-forbidden"
    message = N_("Seuls les évaluateurs, les modérateurs de cette consultation et les administrateurs peuvent "
                 "exporter ses données.")


class NotABudget(Conflict):
    status_code = 422
    code = "not-a-budget"
    message = N_("Le format PaBuLib (.pb) n’existe que pour les budgets participatifs.")


# --- pseudonyms and coarsening


def pseudonymiser(secret: str, consultation_id: int, purpose: str) -> Callable[[str], str]:
    """Keyed hashes for one consultation and one purpose ("bulletins", "commentaires"): the key is
    derived from the server secret, so nobody without it can link a pseudonym to a person, and a
    person's pseudonyms differ between consultations and between purposes."""
    key = hmac.new(secret.encode(), f"carreau/pseudonymes/{purpose}/{consultation_id}".encode(),
                   hashlib.sha256).digest()

    def pseudonym(subject: str) -> str:
        return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()[:20]

    return pseudonym


UNKNOWN_BRACKET = "inconnue"
AGE_BRACKETS = ("moins de 18", "18-24", "25-34", "35-49", "50-64", "65 et plus", UNKNOWN_BRACKET)


def age_bracket(birth_year: int | None, year: int) -> str:
    """The bracket of someone born in `birth_year` in `year` (the year of the vote)."""
    if birth_year is None:
        return UNKNOWN_BRACKET
    age = year - birth_year
    for bracket, below in (("moins de 18", 18), ("18-24", 25), ("25-34", 35), ("35-49", 50), ("50-64", 65)):
        if age < below:
            return bracket
    return "65 et plus"


@dataclass(frozen=True)
class Place:
    level: str  # "commune", "epci" or "bassin"
    code: str  # INSEE code, SIREN, or "" for the basin
    bracket: str


BASIN = "bassin"


def coarsen(counts: dict[tuple[str | None, str], int], epci_of: dict[str, str],
            threshold: int) -> dict[tuple[str | None, str], Place]:
    """Where each (commune, bracket) group of voters is shown: its commune, else its EPCI, else the
    basin, then the basin with an unknown bracket, until every shown combination holds at least
    `threshold` voters. If the last combination is still too small, the smallest others join it;
    only when there are fewer voters than the threshold in all does everyone share one line."""
    assigned = {
        key: Place("commune", key[0], key[1]) if key[0] and key[0] in epci_of else Place(BASIN, "", key[1])
        for key in counts
    }

    def totals() -> Counter[Place]:
        found: Counter[Place] = Counter()
        for key, place in assigned.items():
            found[place] += counts[key]
        return found

    steps: tuple[Callable[[Place], Place], ...] = (
        lambda p: Place("epci", epci_of[p.code], p.bracket) if p.level == "commune" else p,
        lambda p: Place(BASIN, "", p.bracket),
        lambda p: Place(BASIN, "", UNKNOWN_BRACKET),
    )
    for step in steps:
        sizes = totals()
        for key, place in assigned.items():
            if sizes[place] < threshold:
                assigned[key] = step(place)
    residual = Place(BASIN, "", UNKNOWN_BRACKET)
    sizes = totals()
    while 0 < sizes.get(residual, 0) < threshold:
        others = sorted((n, p.level, p.code, p.bracket) for p, n in sizes.items() if p != residual and n > 0)
        if not others:
            break
        _, level, code, bracket = others[0]
        victim = Place(level, code, bracket)
        for key, place in assigned.items():
            if place == victim:
                assigned[key] = residual
        sizes = totals()
    return assigned


# --- what an export is made of


@dataclass
class ExportPlan:
    """Everything an export needs, decided (permissions, visibility, results) before streaming."""

    consultation_id: int
    fmt: Format
    what: What
    include_hidden: bool
    results: voting_results.Results | None  # None while the results are hidden
    secret: str
    threshold: int
    licence: str
    now: datetime
    operator_name: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def tables(self) -> tuple[What, ...]:
        if self.fmt is Format.pb:
            return (What.ballots,)
        wanted = (What.proposals, What.ballots, What.results, What.comments) if self.what is What.all else (self.what,)
        return tuple(w for w in wanted if self.results is not None or w not in (What.ballots, What.results))

    @property
    def is_archive(self) -> bool:
        return self.fmt is Format.bundle or (self.fmt is Format.csv and len(self.tables) > 1)


def _check_plan(consultation: Consultation, fmt: Format, what: What,
                shown: voting_results.Results | None) -> None:
    if fmt is Format.pb and consultation.voting_method != VotingMethod.budget:
        raise NotABudget()
    if shown is None and (fmt is Format.pb or what in (What.ballots, What.results)):
        raise voting_results.ResultsHidden()


def _public_results(session: Session, consultation: Consultation, now: datetime) -> voting_results.Results | None:
    """The results exactly as the public sees them, or None while they are hidden (for everyone)."""
    if not voting_results.visible(consultation, now):
        return None
    return voting_results.get_results(session, consultation, now=now)


def plan_export(session: Session, principal: Principal | None, consultation_id: int, *, fmt: Format, what: What,
                now: datetime, secret: str, threshold: int, licence: str, operator_name: str = "") -> ExportPlan:
    """Check that `principal` may export this consultation and decide what goes in. May store the
    results snapshot of an ended vote (commit afterwards)."""
    consultation = consultations.get(session, consultation_id, principal=principal)
    scope = consultations.scope_of(consultation)
    decision = can(principal, Action.view_participation_figures, scope)
    if not decision:
        raise ExportForbidden()
    include_hidden = bool(can(principal, Action.moderate_content, scope))
    shown = _public_results(session, consultation, now)
    _check_plan(consultation, fmt, what, shown)
    return ExportPlan(consultation.id or 0, fmt, what, include_hidden, shown, secret, threshold, licence, now,
                      operator_name)


def plan_operator_export(session: Session, consultation_id: int, *, fmt: Format, what: What, now: datetime,
                         secret: str, threshold: int, licence: str, include_hidden: bool = False,
                         operator_name: str = "") -> ExportPlan:
    """The same for the command line (the operator, who holds the database): public content unless
    `include_hidden`; results hidden until the end stay hidden all the same."""
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise consultations.ConsultationNotFound()
    shown = _public_results(session, consultation, now)
    _check_plan(consultation, fmt, what, shown)
    return ExportPlan(consultation_id, fmt, what, include_hidden, shown, secret, threshold, licence, now,
                      operator_name)


def filename(session: Session, plan: ExportPlan) -> str:
    consultation = session.get(Consultation, plan.consultation_id)
    slug = re.sub(r"[^a-z0-9-]+", "-", consultation.slug.lower()) if consultation else str(plan.consultation_id)
    extension = "zip" if plan.is_archive else EXTENSIONS[plan.fmt]
    what = "donnees-ouvertes" if plan.fmt is Format.bundle else TABLE_NAMES.get(plan.what, "tout")
    return f"carreau-{slug}-{what}.{extension}"


def media_type(plan: ExportPlan) -> str:
    return "application/zip" if plan.is_archive else MEDIA_TYPES[plan.fmt]


# --- the tables

TABLE_NAMES = {What.proposals: "propositions", What.ballots: "bulletins", What.results: "resultats",
               What.comments: "commentaires", What.evaluations: "evaluations"}

PROPOSALS = Table("propositions", "Propositions", "Les propositions déposées dans la consultation.", (
    Column("id", "integer", "Identifiant de la proposition sur la plateforme."),
    Column("titre", "string", "Titre de la proposition."),
    Column("texte", "string", "Texte de la proposition (Markdown), tel que son auteur l’a écrit."),
    Column("etat", "string", "État : published (publiée), evaluating (à l’étude), accepted (retenue), "
                             "rejected (non retenue), withdrawn (retirée) ; pour les modérateurs aussi pending, "
                             "hidden, merged."),
    Column("reponse_officielle", "string", "Réponse officielle de la collectivité, s’il y en a une."),
    Column("date_reponse", "datetime", "Date de la réponse officielle (UTC)."),
    Column("soutiens", "integer", "Nombre de soutiens (vote par soutiens) ; vide tant que les résultats sont "
                                  "masqués, ou pour les autres modes de vote."),
    Column("commentaires", "integer", "Nombre de commentaires publiés."),
    Column("commune_insee", "string", "Code INSEE de la commune où la proposition se situe, s’il y en a une."),
    Column("commune", "string", "Nom de cette commune."),
    Column("cout_estime", "integer", "Coût estimé en euros (budgets participatifs)."),
    Column("canal", "string", "Canal de dépôt : online (en ligne) ou assisted (avec un médiateur)."),
    Column("fusionnee_dans", "integer", "Proposition dans laquelle celle-ci a été fusionnée (modérateurs)."),
    Column("date_depot", "datetime", "Date de dépôt (UTC)."),
    Column("date_modification", "datetime", "Date de la dernière modification (UTC)."),
))

BALLOTS = Table("bulletins", "Bulletins anonymisés",
                "Une ligne par choix d’un votant : soutien, mention ou projet choisi. Les votants sont des "
                "pseudonymes ; lieu et tranche d’âge sont regroupés pour qu’aucune combinaison ne compte moins "
                "de votants que le seuil de confidentialité.", (
    Column("pseudonyme", "string", "Pseudonyme du votant, propre à cette consultation (empreinte à clé)."),
    Column("proposition_id", "integer", "Proposition concernée ; vide pour un bulletin qui ne retient aucune "
                                        "proposition comptée."),
    Column("valeur", "string", "soutien (vote par soutiens), la mention donnée (jugement majoritaire : excellent, "
                               "tres_bien, bien, assez_bien, passable, insuffisant, a_rejeter) ou choisi (budget)."),
    Column("canal", "string", "online (en ligne) ou assisted (saisi par un médiateur)."),
    Column("lieu_niveau", "string", "Précision du lieu : commune, epci ou bassin."),
    Column("lieu_code", "string", "Code INSEE de la commune, SIREN de l’EPCI, ou vide pour tout le bassin."),
    Column("lieu_nom", "string", "Nom de la commune, de l’EPCI ou « Bassin minier »."),
    Column("tranche_age", "string", "Tranche d’âge l’année du vote : moins de 18, 18-24, 25-34, 35-49, 50-64, "
                                    "65 et plus, inconnue."),
    Column("date", "date", "Jour du vote (UTC)."),
))

COMMENTS = Table("commentaires", "Commentaires", "Les commentaires sous les propositions, sans nom d’auteur.", (
    Column("id", "integer", "Identifiant du commentaire."),
    Column("proposition_id", "integer", "Proposition commentée."),
    Column("reponse_a", "integer", "Commentaire auquel celui-ci répond, s’il y en a un."),
    Column("pseudonyme", "string", "Pseudonyme de l’auteur, propre à cette consultation (différent de celui des "
                                   "bulletins)."),
    Column("texte", "string", "Texte du commentaire (Markdown)."),
    Column("etat", "string", "published (publié) ; pour les modérateurs aussi hidden (masqué)."),
    Column("date", "datetime", "Date de publication (UTC)."),
    Column("date_modification", "datetime", "Date de la dernière modification (UTC)."),
))


def results_table(method: str) -> Table:
    common = (
        Column("rang", "integer", "Rang (les ex aequo partagent le même rang)."),
        Column("proposition_id", "integer", "Proposition classée."),
        Column("titre", "string", "Titre de la proposition."),
    )
    if method == VotingMethod.majority_judgment:
        extra = (
            Column("mention_majoritaire", "string", "Mention majoritaire (médiane inférieure)."),
            *(Column(grade, "integer", f"Nombre de mentions « {grade} ».") for grade in GRADES),
            Column("total", "integer", "Nombre de mentions reçues."),
        )
    elif method == VotingMethod.budget:
        extra = (
            Column("votes", "integer", "Nombre de bulletins qui ont choisi ce projet."),
            Column("cout", "integer", "Coût estimé en euros."),
            Column("finance", "boolean", "Le projet est financé."),
            Column("reste", "integer", "Budget restant après ce projet (euros)."),
        )
    else:
        extra = (Column("soutiens", "integer", "Nombre de soutiens."),)
    return Table("resultats", "Résultats", "Les résultats tels que le public les voit.", (*common, *extra))


def _counted(rows: Iterable[Row], plan: ExportPlan, name: str) -> Iterator[Row]:
    plan.row_counts[name] = 0
    for row in rows:
        plan.row_counts[name] += 1
        yield row


def _stream(session: Session, statement: Any) -> Iterator[Any]:
    """Rows of a query (of columns, never of ORM objects) as tuples, fetched YIELD_PER at a time,
    from a server-side cursor on PostgreSQL. Not through the ORM: plain rows, without its loading
    machinery (a third of an export's time)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        yield from _stream_postgresql(connection, statement)
        return
    result = connection.execute(statement, execution_options={"stream_results": True, "yield_per": YIELD_PER})
    try:
        for rows in result.partitions():  # a batch at a time: cheaper than a fetch per row
            yield from rows
    finally:
        result.close()


def _stream_postgresql(connection: Any, statement: Any) -> Iterator[Any]:
    """psycopg's own server-side cursor (binary), in the session's transaction: for a million ballot
    lines, 2.4 s where SQLAlchemy's result rows took 5.4 (BENCHMARKS.md). The transaction's time
    zone is set to UTC, so moments arrive as UtcDateTime gives them; other columns' result
    processors, if any, are applied here as SQLAlchemy would."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    processors = [(index, processor) for index, column in enumerate(statement.selected_columns)
                  if not isinstance(column.type, UtcDateTime)
                  and (processor := column.type.result_processor(dialect, None)) is not None]
    connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    cursor = connection.connection.driver_connection.cursor(name=f"carreau_export_{id(statement)}", binary=True)
    cursor.itersize = YIELD_PER
    try:
        cursor.execute(compiled.string, compiled.params)
        if not processors:
            yield from cursor
            return
        for row in cursor:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            yield values
    finally:
        cursor.close()


def proposal_rows(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[Row]:
    show_supports = plan.results is not None and consultation.voting_method == VotingMethod.support
    statement = (
        select(Proposal.id, Proposal.title, Proposal.body, Proposal.state, Proposal.official_answer,
               Proposal.answered_at, Proposal.supports_count, Proposal.comments_count, Proposal.commune_insee,
               Commune.name, Proposal.estimated_cost, Proposal.channel, Proposal.merged_into_id,
               Proposal.created_at, Proposal.updated_at)
        .outerjoin(Commune, col(Commune.insee_code) == Proposal.commune_insee)
        .where(Proposal.consultation_id == consultation.id)
        .order_by(col(Proposal.id))
    )
    if not plan.include_hidden:
        statement = statement.where(col(Proposal.state).in_(PUBLIC_STATES))
    for (pid, title, body, state, answer, answered_at, supports, comments, insee, commune, cost, channel, merged,
         created_at, updated_at) in _stream(session, statement):
        yield (pid, title, body, state, answer, answered_at, supports if show_supports else None, comments, insee,
               commune, cost, channel, merged if plan.include_hidden else None, created_at, updated_at)


def comment_rows(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[Row]:
    pseudonym = pseudonymiser(plan.secret, consultation.id or 0, "commentaires")
    statement = (
        select(Comment.id, Comment.proposal_id, Comment.parent_id, Comment.author_id, Comment.body, Comment.state,
               Comment.created_at, Comment.updated_at)
        .join(Proposal, col(Proposal.id) == Comment.proposal_id)
        .where(Proposal.consultation_id == consultation.id)
        .order_by(col(Comment.id))
    )
    if plan.include_hidden:
        statement = statement.where(col(Comment.state).in_((CommentState.published, CommentState.hidden)))
    else:
        statement = statement.where(Comment.state == CommentState.published, col(Proposal.state).in_(PUBLIC_STATES))
    for cid, proposal_id, parent_id, author_id, body, state, created_at, updated_at in _stream(session, statement):
        yield (cid, proposal_id, parent_id, pseudonym(f"user:{author_id}"), body, state, created_at, updated_at)


def result_rows(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[Row]:
    assert plan.results is not None
    ids = [int(item["proposal_id"]) for item in plan.results.items]
    titles = dict(session.exec(select(Proposal.id, Proposal.title).where(col(Proposal.id).in_(ids))).all()) if ids \
        else {}
    for item in plan.results.items:
        head = (item["rank"], item["proposal_id"], titles.get(item["proposal_id"], ""))
        if plan.results.method == VotingMethod.majority_judgment:
            grades = item.get("grades", {})
            yield (*head, item.get("majority_grade"), *(int(grades.get(g, 0)) for g in GRADES), item.get("total", 0))
        elif plan.results.method == VotingMethod.budget:
            yield (*head, item["votes"], item["cost"], bool(item["funded"]), item["remaining"])
        else:
            yield (*head, item["supports"])


@dataclass(frozen=True)
class _VoterRows:
    """The ballots' raw rows and the query that counts their voters by (commune, birth year)."""

    rows: Any  # (subject, proposal_id | None, value | None, channel, when, commune, birth_year)
    groups: Any  # (commune, birth_year, voters)


def _voter_queries(consultation: Consultation, ids: list[int]) -> _VoterRows:
    if consultation.voting_method == VotingMethod.support:
        voter = func.coalesce(SupportVote.voter_id, -col(SupportVote.id))
        where = and_(SupportVote.consultation_id == consultation.id, col(SupportVote.proposal_id).in_(ids))
        rows = (
            select(SupportVote.voter_id, SupportVote.id, SupportVote.proposal_id, SupportVote.channel,
                   SupportVote.cast_at, User.commune_insee, User.birth_year)
            .outerjoin(User, col(User.id) == SupportVote.voter_id)
            .where(where).order_by(col(SupportVote.id))
        )
        groups = (
            select(User.commune_insee, User.birth_year, func.count(func.distinct(voter)))
            .select_from(SupportVote).outerjoin(User, col(User.id) == SupportVote.voter_id)
            .where(where).group_by(col(User.commune_insee), col(User.birth_year))
        )
        return _VoterRows(rows, groups)
    line = BallotGrade if consultation.voting_method == VotingMethod.majority_judgment else BallotChoice
    value = BallotGrade.grade if line is BallotGrade else None
    columns = [Ballot.voter_id, Ballot.id, line.proposal_id]
    if value is not None:
        columns.append(value)
    rows = (
        select(*columns, Ballot.channel, Ballot.updated_at, User.commune_insee, User.birth_year)
        .select_from(Ballot)
        .outerjoin(line, and_(col(line.ballot_id) == Ballot.id, col(line.proposal_id).in_(ids)))
        .outerjoin(User, col(User.id) == Ballot.voter_id)
        .where(Ballot.consultation_id == consultation.id)
        .order_by(col(Ballot.id), col(line.proposal_id))
    )
    groups = (
        select(User.commune_insee, User.birth_year, func.count())
        .select_from(Ballot).outerjoin(User, col(User.id) == Ballot.voter_id)
        .where(Ballot.consultation_id == consultation.id)
        .group_by(col(User.commune_insee), col(User.birth_year))
    )
    return _VoterRows(rows, groups)


@dataclass(frozen=True)
class Territory:
    epci_of: dict[str, str]
    names: dict[tuple[str, str], str]  # (level, code) → name


def _territory(session: Session) -> Territory:
    communes = session.exec(select(Commune.insee_code, Commune.name, Commune.epci_siren)).all()
    epcis = session.exec(select(Epci.siren, Epci.name)).all()
    names = {("commune", code): name for code, name, _ in communes}
    names.update({("epci", siren): name for siren, name in epcis})
    names[(BASIN, "")] = "Bassin minier"
    return Territory({code: siren for code, _, siren in communes}, names)


def _places(session: Session, consultation: Consultation, queries: _VoterRows, threshold: int,
            territory: Territory) -> dict[tuple[str | None, int | None], Place]:
    """First pass: voters counted by (commune, birth year) with one GROUP BY, brackets derived,
    coarsened; the answer maps each (commune, birth year) to what the ballots file shows."""
    year = consultation.voting_starts_at.year
    by_year = [(commune, birth_year, int(n)) for commune, birth_year, n in session.execute(queries.groups)]
    counts: Counter[tuple[str | None, str]] = Counter()
    for commune, birth_year, n in by_year:
        counts[(commune, age_bracket(birth_year, year))] += n
    coarse = coarsen(dict(counts), territory.epci_of, threshold)
    return {(commune, birth_year): coarse[(commune, age_bracket(birth_year, year))]
            for commune, birth_year, _ in by_year}


def ballot_lines(session: Session, consultation: Consultation, plan: ExportPlan,
                 ) -> Iterator[tuple[str, int | None, str | None, str, datetime, Place]]:
    """(pseudonym, proposal id, value, channel, moment, place) for each counted vote, ballot by
    ballot; a ballot that retains no counted proposal gives one line without a proposal."""
    assert plan.results is not None
    ids = [int(item["proposal_id"]) for item in plan.results.items]
    queries = _voter_queries(consultation, ids)
    places = _places(session, consultation, queries, plan.threshold, _territory(session))
    pseudonym = pseudonymiser(plan.secret, consultation.id or 0, "bulletins")
    method = consultation.voting_method
    kind = "vote" if method == VotingMethod.support else "ballot"
    last_subject, last_pseudonym = "", ""
    for row in _stream(session, queries.rows):
        voter_id, own_id, proposal_id = row[0], row[1], row[2]
        if method == VotingMethod.majority_judgment:
            value, channel, when, commune, birth_year = row[3], row[4], row[5], row[6], row[7]
        else:
            value = None if proposal_id is None else ("soutien" if method == VotingMethod.support else "choisi")
            channel, when, commune, birth_year = row[3], row[4], row[5], row[6]
        subject = f"user:{voter_id}" if voter_id is not None else f"{kind}:{own_id}"
        if subject != last_subject:  # a ballot's lines follow each other: one HMAC per ballot
            last_subject, last_pseudonym = subject, pseudonym(subject)
        yield last_pseudonym, proposal_id, value, channel, when, places[(commune, birth_year)]


def ballot_rows(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[Row]:
    names = _territory(session).names
    shown: dict[Place, tuple[str, str, str, str]] = {}  # a place's four cells, worked out once
    for pseudonym, proposal_id, value, channel, when, place in ballot_lines(session, consultation, plan):
        cells = shown.get(place)
        if cells is None:
            cells = shown[place] = (place.level, place.code, names.get((place.level, place.code), place.code),
                                    place.bracket)
        yield (pseudonym, proposal_id, value, channel, *cells, when.date())


def evaluation_rows(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[Row]:
    return ratings.evaluation_rows(session, consultation.id or 0, include_hidden=plan.include_hidden,
                                   threshold=plan.threshold, yield_per=YIELD_PER)


ROWS: dict[What, Callable[[Session, Consultation, ExportPlan], Iterator[Row]]] = {
    What.proposals: proposal_rows, What.ballots: ballot_rows, What.results: result_rows,
    What.comments: comment_rows, What.evaluations: evaluation_rows,
}


def table_of(what: What, consultation: Consultation) -> Table:
    if what is What.results:
        return results_table(consultation.voting_method)
    return {What.proposals: PROPOSALS, What.ballots: BALLOTS, What.comments: COMMENTS,
            What.evaluations: ratings.EVALUATIONS_TABLE}[what]


def sheets(session: Session, consultation: Consultation, plan: ExportPlan) -> list[Sheet]:
    """The tables of the export, each with its rows as a stream (counted as they go)."""
    found = []
    for what in plan.tables:
        table = table_of(what, consultation)
        found.append((table, _counted(ROWS[what](session, consultation, plan), plan, table.name)))
    return found


# --- tallies, README and datapackage


def tallies(session: Session, consultation: Consultation, plan: ExportPlan) -> dict[str, Any]:
    """The numbers the export must reproduce: participants and each proposal's count, from the
    results the public sees (or a note that they are hidden until the end of the vote)."""
    found: dict[str, Any] = {
        "consultation_id": consultation.id, "consultation": consultation.title, "methode": consultation.voting_method,
        "exporte_le": iso(plan.now), "seuil_confidentialite": plan.threshold,
        "contenu_modere_inclus": plan.include_hidden,
    }
    if plan.results is None:
        found["resultats_masques"] = True
        found["note"] = ("Les résultats de cette consultation sont masqués jusqu’à la fin du vote : ni bulletins, "
                         "ni résultats, ni nombres de soutiens avant cette date.")
        return found
    result = plan.results
    found.update(resultats_masques=False, resultats_definitifs=result.is_final, calcules_le=iso(result.computed_at),
                 participants=result.participants, budget_total=result.budget_total)
    lines = []
    for item in result.items:
        line: dict[str, Any] = {"proposition_id": item["proposal_id"], "rang": item["rank"]}
        if result.method == VotingMethod.majority_judgment:
            line.update(mentions={g: int(item.get("grades", {}).get(g, 0)) for g in GRADES},
                        mention_majoritaire=item.get("majority_grade"))
        elif result.method == VotingMethod.budget:
            line.update(votes=item["votes"], cout=item["cost"], finance=bool(item["funded"]))
        else:
            line.update(soutiens=item["supports"])
        lines.append(line)
    found["propositions"] = lines
    return found


def _tally_rows(numbers: dict[str, Any]) -> Iterator[Row]:
    """The tallies as key/value rows (the "totaux" sheet of spreadsheets)."""
    for key, value in numbers.items():
        if key != "propositions":
            yield (key, value if isinstance(value, str | int | float | bool) or value is None else json.dumps(value))
    for line in numbers.get("propositions", []):
        counts = {k: v for k, v in line.items() if k not in ("proposition_id", "rang")}
        yield (f"proposition {line['proposition_id']}", json.dumps(counts, ensure_ascii=False))


TALLIES_TABLE = Table("totaux", "Totaux à retrouver", "Les nombres que les bulletins doivent redonner.", (
    Column("cle", "string", "Ce qui est compté."), Column("valeur", "string", "Sa valeur."),
))


def readme(session: Session, consultation: Consultation, plan: ExportPlan, numbers: dict[str, Any],
           tables: Sequence[Table]) -> str:
    axis = session.get(Axis, consultation.axis_id)
    licence = LICENCES[plan.licence]
    lines = [
        f"# Données de la consultation « {consultation.title} »",
        "",
        f"Plateforme de participation Carreau{' — ' + plan.operator_name if plan.operator_name else ''}. "
        f"Axe {axis.number if axis else ''} : {axis.title if axis else ''}. "
        f"Public : {consultations.scope_name(session, consultation)}. Export du {iso(plan.now)}.",
        "",
        f"Licence : {licence['title']} ({licence['path']}).",
        "",
        "## Fichiers",
        "",
    ]
    for table in tables:
        lines.append(f"- `{table.name}.csv` : {table.description} ({plan.row_counts.get(table.name, 0)} lignes)")
    lines += [
        "- `datapackage.json` : description des fichiers (Table Schema Frictionless : types et sens des colonnes).",
        "- `totaux.json` : les nombres que les bulletins doivent redonner.",
        "",
        "Fichiers CSV en UTF-8, séparateur virgule, une ligne d’en-tête, dates au format ISO 8601 (UTC). "
        "Une cellule de texte qui commencerait par =, +, -, @, une tabulation ou un retour chariot est précédée "
        "d’une apostrophe, pour qu’aucun tableur ne l’exécute comme une formule.",
        "",
        "## Confidentialité",
        "",
        "Aucun nom, aucune adresse électronique, aucun identifiant de compte. Chaque votant apparaît sous un "
        "pseudonyme (empreinte HMAC-SHA256 calculée avec une clé secrète propre à la consultation) : le même tout "
        "au long de cette consultation, différent d’une consultation à l’autre. Les auteurs de commentaires ont "
        "d’autres pseudonymes que les votants.",
        "",
        f"Dans les bulletins, la commune et la tranche d’âge sont regroupées (commune, puis EPCI, puis tout le "
        f"bassin ; puis tranche d’âge « inconnue ») jusqu’à ce que chaque combinaison lieu × tranche d’âge compte au "
        f"moins {plan.threshold} votants.",
        "",
        "## Totaux à retrouver",
        "",
    ]
    if numbers.get("resultats_masques"):
        lines.append(str(numbers["note"]))
    else:
        lines.append(f"Participants : {numbers['participants']}. En comptant les pseudonymes distincts du fichier "
                     f"`bulletins.csv` et, pour chaque proposition, ses lignes (ou ses mentions), on retrouve les "
                     f"résultats publiés (`resultats.csv`, `totaux.json`).")
        lines.append("")
        lines.append("Seules les voix données aux propositions classées comptent ; un bulletin qui n’en retient "
                     "aucune figure sur une ligne sans proposition.")
    return "\n".join(lines) + "\n"


def datapackage(consultation: Consultation, plan: ExportPlan, tables: Sequence[Table]) -> dict[str, Any]:
    return {
        "name": f"carreau-{consultation.slug}",
        "title": f"Consultation « {consultation.title} »",
        "description": "Propositions, bulletins anonymisés, résultats et commentaires d’une consultation de Carreau.",
        "created": iso(plan.now),
        "licenses": [LICENCES[plan.licence]],
        "resources": [
            {"name": table.name, "title": table.title, "description": table.description, "path": f"{table.name}.csv",
             "format": "csv", "mediatype": "text/csv", "encoding": "utf-8", "profile": "tabular-data-resource",
             "schema": table.schema()}
            for table in tables
        ],
    }


# --- the files


def _text(value: str) -> Iterator[bytes]:
    yield value.encode()


def _archive(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[bytes]:
    """A zip of CSV files, the tallies and a README; with datapackage.json for the open-data bundle."""
    found = sheets(session, consultation, plan)
    tables = [table for table, _ in found]
    members: list[tuple[str, Iterable[bytes]]] = [(f"{table.name}.csv", csv_chunks(table, rows))
                                                  for table, rows in found]

    def closing() -> Iterator[tuple[str, Iterable[bytes]]]:
        numbers = tallies(session, consultation, plan)
        numbers["lignes"] = dict(plan.row_counts)
        yield "totaux.json", _text(json.dumps(numbers, ensure_ascii=False, indent=2) + "\n")
        if plan.fmt is Format.bundle:
            yield "datapackage.json", _text(json.dumps(datapackage(consultation, plan, tables), ensure_ascii=False,
                                                       indent=2) + "\n")
        yield "LISEZMOI.md", _text(readme(session, consultation, plan, numbers, tables))

    def everything() -> Iterator[tuple[str, Iterable[bytes]]]:
        yield from members
        yield from closing()  # after the rows: it states how many there were

    return zip_chunks(everything(), when=plan.now)


def _pabulib(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[bytes]:
    assert plan.results is not None
    items = plan.results.items
    ids = [int(item["proposal_id"]) for item in items]
    titles = dict(session.exec(select(Proposal.id, Proposal.title).where(col(Proposal.id).in_(ids))).all()) if ids \
        else {}
    starts = consultation.voting_starts_at
    meta = [
        ("description", consultation.title), ("country", "France"), ("unit", consultations.scope_name(session,
                                                                                                       consultation)),
        ("instance", consultation.slug), ("num_projects", len(items)), ("num_votes", plan.results.participants),
        ("budget", consultation.budget_total or 0), ("vote_type", "approval"), ("rule", "greedy"),
        ("date_begin", starts.strftime("%d.%m.%Y")),
        ("date_end", consultation.results_starts_at.strftime("%d.%m.%Y")), ("language", "fr"),
        ("currency", "EUR"), ("max_sum_cost", consultation.budget_total or 0),
        ("comment", f"Carreau; pseudonymous voters; licence {LICENCES[plan.licence]['name']}"),
    ]
    projects = [(item["proposal_id"], item["cost"], item["votes"], titles.get(item["proposal_id"], ""),
                 1 if item["funded"] else 0) for item in items]

    def votes() -> Iterator[tuple[str, list[int]]]:
        current: str | None = None
        chosen: list[int] = []
        for pseudonym, proposal_id, _value, _channel, _when, _place in ballot_lines(session, consultation, plan):
            if pseudonym != current:
                if current is not None:
                    yield current, chosen
                current, chosen = pseudonym, []
            if proposal_id is not None:
                chosen.append(proposal_id)
        if current is not None:
            yield current, chosen

    return pabulib_chunks(meta, ("project_id", "cost", "votes", "name", "selected"), projects, votes())


def _spreadsheet(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[bytes]:
    numbers: dict[str, Any] = {}

    def with_tallies() -> Iterator[Sheet]:
        yield from sheets(session, consultation, plan)
        numbers.update(tallies(session, consultation, plan))
        numbers["lignes"] = dict(plan.row_counts)
        yield TALLIES_TABLE, _tally_rows(numbers)

    with tempfile.TemporaryFile() as handle:
        (write_xlsx if plan.fmt is Format.xlsx else write_ods)(handle, with_tallies())
        yield from file_chunks(handle)


def _json(session: Session, consultation: Consultation, plan: ExportPlan) -> Iterator[bytes]:
    head = {"consultation_id": consultation.id, "consultation": consultation.title,
            "licence": LICENCES[plan.licence]["name"], "exporte_le": iso(plan.now)}

    def tail() -> dict[str, Any]:
        numbers = tallies(session, consultation, plan)
        numbers["lignes"] = dict(plan.row_counts)
        return {"totaux": numbers}

    return json_chunks(head, sheets(session, consultation, plan), tail)


def export_chunks(session: Session, plan: ExportPlan) -> Iterator[bytes]:
    """The export's bytes, produced as they are read: hand it to a StreamingResponse or a file."""
    consultation = session.get(Consultation, plan.consultation_id)
    assert consultation is not None
    if plan.fmt is Format.pb:
        yield from _pabulib(session, consultation, plan)
    elif plan.is_archive:
        yield from _archive(session, consultation, plan)
    elif plan.fmt in (Format.xlsx, Format.ods):
        yield from _spreadsheet(session, consultation, plan)
    elif plan.fmt is Format.json:
        yield from _json(session, consultation, plan)
    else:
        ((table, rows),) = sheets(session, consultation, plan)
        yield from csv_chunks(table, rows)
