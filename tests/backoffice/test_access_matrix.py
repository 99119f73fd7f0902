"""Who may use each route of the back office: every route of the app under /gestion, /guichet,
/api/v1/moderation and /api/v1/audit, the unsafe ones under /api/v1/actions, the official answer,
the merge, publishing and archiving. They are taken from app.routes, so a new route fails
test_every_route_is_in_the_table until someone writes down who may use it.

One table (EXPECTED) says, for each route, what each of eight people gets:

    S  asked to sign in: a page sends to /connexion (303), the API answers 401
    X  refused: 403, or 404 when the object is out of the person's reach
    F  refused by the form: a choice the person may not make (4xx, the form again)
    N  answered, but nothing done (a batch whose every item is out of reach)
    O  allowed: neither refused nor sent to sign in; an unsafe request does what it asks, which
       leaves at least one audit entry (every act of staff is in the log)

Refused and "nothing done" requests must leave the audit log as it was. The objects in the
paths all belong to axis 1 (a resident of the commune 62510 for the counter): the moderator
of axis 2 and the mediator of 62427 are strangers to them. Each allowed unsafe request runs in a
world of its own, since it changes it."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions.models import ActionEvaluation, PublicAction
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.core.csrf import CSRF_COOKIE, SAFE_METHODS
from app.core.settings import Settings
from app.evaluation.downloads import signed_link
from app.evaluation.exports import Format, What
from app.main import create_app
from app.moderation.models import Report
from app.proposals.models import Comment, Proposal
from tests.backoffice.people import staff
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import csrf, sign_in
from tests.support import cheap_password_hashing

PEOPLE = ("visitor", "resident", "evaluator", "moderator of axis 1", "moderator of axis 2",
          "mediator of 62427", "mediator of 62510", "admin")

# --- THE TABLE. Columns, in PEOPLE's order:
#   visitor · resident · evaluator · moderator of axis 1 · moderator of axis 2 · mediator of another
#   commune (62427) · mediator of the resident's commune (62510) · admin
# Evaluators read figures and exports and change nothing; mediators work at the counter only.
MODERATION = "S X X O X X X O"  # an axis-1 object: its moderators and admins
OWN_LIST = "S X X O O X X O"  # a moderator's list of their own scope
COUNTER = "S X X X X X O O"  # a resident of 62510, at the counter
EXPECTED: dict[tuple[str, str], str] = {
    # The back office's home and the audit log (evaluators and mediators do not read the log)
    ("GET", "/gestion"): "S X O O O O O O",
    ("GET", "/gestion/journal"): OWN_LIST,
    ("GET", "/gestion/journal.csv"): OWN_LIST,
    ("GET", "/api/v1/audit"): OWN_LIST,
    # Consultations
    ("GET", "/gestion/consultations"): OWN_LIST,
    ("GET", "/gestion/consultations/nouvelle"): OWN_LIST,
    ("POST", "/gestion/consultations/nouvelle"): "S X X O F X X O",  # in axis 1, not one of axis 2's
    ("GET", "/gestion/consultations/{consultation_id}"): MODERATION,
    ("GET", "/gestion/consultations/{consultation_id}/modifier"): MODERATION,
    ("POST", "/gestion/consultations/{consultation_id}/modifier"): MODERATION,
    ("GET", "/gestion/consultations/{consultation_id}/apercu"): MODERATION,
    ("POST", "/gestion/consultations/{consultation_id}/publier"): MODERATION,
    ("POST", "/gestion/consultations/{consultation_id}/dupliquer"): MODERATION,
    ("GET", "/gestion/consultations/{consultation_id}/archiver"): MODERATION,
    ("POST", "/gestion/consultations/{consultation_id}/archiver"): MODERATION,
    ("GET", "/gestion/consultations/{consultation_id}/clore-la-phase"): MODERATION,
    ("POST", "/gestion/consultations/{consultation_id}/clore-la-phase"): MODERATION,
    ("POST", "/api/v1/consultations/{consultation_id}/publish"): MODERATION,
    ("POST", "/api/v1/consultations/{consultation_id}/archive"): MODERATION,
    # Moderation
    ("GET", "/gestion/moderation"): OWN_LIST,
    ("POST", "/gestion/moderation/{path_type}/{target_id}/masquer"): MODERATION,
    ("POST", "/gestion/moderation/{path_type}/{target_id}/retablir"): MODERATION,
    ("POST", "/gestion/moderation/{path_type}/{target_id}/approuver"): MODERATION,
    ("POST", "/gestion/moderation/lot"): "S X X O N X X O",
    ("GET", "/gestion/moderation/personnes/{user_id}/blocage"): MODERATION,
    ("POST", "/gestion/moderation/personnes/{user_id}/blocage"): MODERATION,
    ("POST", "/gestion/moderation/personnes/{user_id}/deblocage"): MODERATION,
    ("GET", "/api/v1/moderation/queue"): OWN_LIST,
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/hide"): MODERATION,
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/restore"): MODERATION,
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/approve"): MODERATION,
    ("POST", "/api/v1/moderation/bulk"): "S X X O N X X O",
    ("POST", "/api/v1/moderation/users/{user_id}/block"): MODERATION,
    ("POST", "/api/v1/moderation/users/{user_id}/unblock"): MODERATION,
    # Official answers, merges, actions
    ("GET", "/gestion/propositions/{proposal_id}/reponse"): MODERATION,
    ("POST", "/gestion/propositions/{proposal_id}/reponse"): MODERATION,
    ("GET", "/gestion/propositions/{proposal_id}/fusion"): MODERATION,
    ("POST", "/gestion/propositions/{proposal_id}/fusion"): MODERATION,
    ("GET", "/gestion/actions/nouvelle"): MODERATION,
    ("POST", "/gestion/actions/nouvelle"): MODERATION,
    ("GET", "/gestion/actions/{action_id}/modifier"): MODERATION,
    ("POST", "/gestion/actions/{action_id}/modifier"): MODERATION,
    ("GET", "/gestion/actions/{action_id}/avancement"): MODERATION,
    ("POST", "/gestion/actions/{action_id}/avancement"): MODERATION,
    ("POST", "/api/v1/proposals/{proposal_id}/answer"): MODERATION,
    ("POST", "/api/v1/proposals/merge"): MODERATION,
    ("POST", "/api/v1/actions"): MODERATION,
    ("PATCH", "/api/v1/actions/{action_id}"): MODERATION,
    ("POST", "/api/v1/actions/{action_id}/updates"): MODERATION,
    ("POST", "/gestion/avis/{evaluation_id}/masquer"): MODERATION,  # a resident's comment on an action
    ("POST", "/gestion/avis/{evaluation_id}/retablir"): MODERATION,
    # The counter (a mediator of any commune opens it; a resident belongs to their commune's)
    ("GET", "/guichet"): "S X X X X O O O",
    ("GET", "/guichet/inscrire"): "S X X X X O O O",
    ("POST", "/guichet/inscrire"): COUNTER,  # a resident of 62510
    ("GET", "/guichet/habitants/{user_id}"): COUNTER,
    ("POST", "/guichet/habitants/{user_id}/residence"): COUNTER,
    ("GET", "/guichet/habitants/{user_id}/proposer/{slug}"): COUNTER,
    ("POST", "/guichet/habitants/{user_id}/proposer/{slug}"): COUNTER,
    ("GET", "/guichet/habitants/{user_id}/soutenir/{slug}"): COUNTER,
    ("POST", "/guichet/habitants/{user_id}/soutenir/{slug}"): COUNTER,
    ("GET", "/guichet/habitants/{user_id}/voter/{slug}"): COUNTER,
    ("POST", "/guichet/habitants/{user_id}/voter/{slug}"): COUNTER,
    ("POST", "/guichet/habitants/{user_id}/code"): COUNTER,
    # Exports (issue #7): evaluators read every consultation's, moderators their axis's
    ("GET", "/gestion/exports"): "S X O O O X X O",
    ("GET", "/gestion/exports/{consultation_id}"): "S X O O X X X O",
    ("GET", "/gestion/exports/{consultation_id}/fichier"): "S X O O X X X O",
}

MATRIX_PATH = re.compile(
    r"(/gestion|/guichet|/api/v1/moderation|/api/v1/audit)(/.*)?(\.csv)?"
    r"|/api/v1/proposals/\{\w+\}/answer|/api/v1/proposals/merge|/api/v1/consultations/\{\w+\}/(publish|archive)"
)


def in_matrix(method: str, path: str) -> bool:
    if path.startswith("/api/v1/actions"):
        # reading actions is public; rating one is a resident's act, not the back office's
        return method not in SAFE_METHODS and not path.endswith("/evaluation")
    return MATRIX_PATH.fullmatch(path) is not None


def app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(_env_file=None, secret_key="x" * 40, database_url="sqlite://"))
    found = set()
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            if method != "HEAD" and context.path and in_matrix(method, context.path):
                found.add((method, context.path))
    app.state.engine.dispose()
    return sorted(found, key=lambda route: (route[1], route[0]))


ROUTES = app_routes()


def expected(route: tuple[str, str]) -> dict[str, str]:
    return dict(zip(PEOPLE, EXPECTED[route].split(), strict=True))


def test_every_route_is_in_the_table() -> None:
    missing = [f"{method} {path}" for method, path in ROUTES if (method, path) not in EXPECTED]
    assert not missing, "Say who may use these routes (EXPECTED): " + ", ".join(missing)
    gone = [f"{method} {path}" for method, path in EXPECTED if (method, path) not in ROUTES]
    assert not gone, "These routes are gone: " + ", ".join(gone)


def test_the_table_is_well_formed() -> None:
    for route, cells in EXPECTED.items():
        symbols = cells.split()
        assert len(symbols) == len(PEOPLE), route
        assert set(symbols) <= {"S", "X", "F", "N", "O"}, route
        assert symbols[0] == "S", f"{route}: visitors are asked to sign in"
        assert symbols[1] == "X", f"{route}: residents are refused"
        if route[0] not in SAFE_METHODS:
            assert symbols[2] == "X", f"{route}: an evaluator changes nothing"
        assert "O" in symbols, route


# --- the world every request is made in


@dataclass
class World:
    people: dict[str, User | None]
    draft: Consultation  # axis 1, not published
    open: Consultation  # axis 1, proposals phase, pre-moderated
    voting: Consultation  # axis 1, voting (supports)
    judgment: Consultation  # axis 1, voting (majority judgment)
    published: Proposal  # in `open`, reported once
    duplicate: Proposal
    pending: Proposal  # awaiting approval
    hidden: Proposal
    supported: Proposal  # in `voting`
    action: PublicAction  # of `open`
    author: User  # wrote in `open`
    blocked: User  # wrote in `open`, barred from participating for a week
    resident: User  # of 62510, registered at the counter, never online
    evaluation: ActionEvaluation | None = None  # a resident's rating of `action`, with a comment


def make_world(session: Session) -> World:
    people: dict[str, User | None] = {
        "visitor": None,
        "resident": make_user(session, name="Rémi"),
        "evaluator": staff(session, Role.evaluator, name="Ève"),
        "moderator of axis 1": staff(session, Role.moderator, name="Modeste Un", axis=1),
        "moderator of axis 2": staff(session, Role.moderator, name="Modeste Deux", axis=2),
        "mediator of 62427": staff(session, Role.mediator, name="Malik", commune="62427"),
        "mediator of 62510": staff(session, Role.mediator, name="Mona", commune="62510"),
        "admin": staff(session, Role.admin, name="Alix"),
    }
    author = make_user(session, name="Auguste")
    blocked = make_user(session, name="Blaise")
    blocked.participation_blocked_until = NOW + timedelta(days=7)
    blocked.participation_block_reason = "Insultes"
    draft = make_consultation(session, phase="information", status="draft")
    open_ = make_consultation(session, phase="proposals", is_premoderated=True)
    voting = make_consultation(session, phase="voting")
    judgment = make_consultation(session, phase="voting", voting_method="majority_judgment")
    published = make_proposal(session, open_, author)
    duplicate = make_proposal(session, open_, author)
    pending = make_proposal(session, open_, author, state="pending")
    hidden = make_proposal(session, open_, blocked, state="hidden", moderation_reason="Hors sujet")
    supported = make_proposal(session, voting, author)
    for _n in range(2):
        make_proposal(session, judgment, author)
    session.add(Comment(proposal_id=published.id or 0, author_id=author.id or 0, body="Oui", body_html="<p>Oui</p>",
                        created_at=NOW, updated_at=NOW))
    session.add(Report(target_type="proposal", target_key=f"proposal:{published.id}", proposal_id=published.id,
                       reporter_id=blocked.id or 0, reason="spam", created_at=NOW))
    action = PublicAction(consultation_id=open_.id or 0, title="Des bancs", owner="Mairie", created_at=NOW,
                          updated_at=NOW)
    resident = accounts.create_user(session, display_name="Rosa", commune_insee="62510", birth_year=1950, now=NOW)
    resident.verification_level = "declared"
    resident.terms_version, resident.terms_accepted_at = "test", NOW
    resident.registered_by_id = people["mediator of 62510"].id  # type: ignore[union-attr]
    session.add_all([blocked, action, resident])
    session.flush()
    evaluation = ActionEvaluation(action_id=action.id or 0, user_id=author.id, rating=2, comment="Trop lent",
                                  comment_html="<p>Trop lent</p>", created_at=NOW, updated_at=NOW)
    session.add(evaluation)
    session.flush()
    return World(people, draft, open_, voting, judgment, published, duplicate, pending, hidden, supported, action,
                 author, blocked, resident, evaluation)


# --- the request each route gets: a path with axis-1 objects, and what a real form or program sends

CONSULTATION_FORM = {
    "title": "Des jardins partagés dans les cités", "summary": "Où créer des jardins partagés ?",
    "body": "Le contexte.", "easy_read_summary": "", "easy_read_rules": "", "axis": "1", "scope_kind": "basin",
    "scope_epci": "", "scope_commune": "", "information_starts_at": "2027-03-10T09:00",
    "proposals_starts_at": "2027-03-17T09:00", "voting_starts_at": "2027-04-07T09:00",
    "results_starts_at": "2027-04-28T18:00", "follow_up_starts_at": "2027-05-05T09:00", "follow_up_ends_at": "",
    "voting_method": "support", "max_supports": "3", "min_age": "", "required_verification": "declared",
    "results_hidden_until_end": "", "budget_total": "", "is_premoderated": "no",
}
REASON = "Propos hors sujet"


@dataclass
class Call:
    path: str
    form: dict[str, Any] | None = None
    json: Any = None


def _path(template: str, w: World) -> str:
    values = {
        "consultation_id": w.open.id, "proposal_id": w.published.id, "action_id": w.action.id,
        "user_id": w.author.id, "path_type": "propositions", "target_type": "proposal", "target_id": w.published.id,
        "slug": w.open.slug, "evaluation_id": w.evaluation.id if w.evaluation else 0,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


BuildCall = Callable[[World, User | None, FastAPI], Call]

CALLS: dict[tuple[str, str], BuildCall] = {
    ("POST", "/gestion/consultations/nouvelle"): lambda w, u, a: Call("/gestion/consultations/nouvelle",
                                                                      CONSULTATION_FORM),
    ("POST", "/gestion/consultations/{consultation_id}/modifier"): lambda w, u, a: Call(
        f"/gestion/consultations/{w.draft.id}/modifier", CONSULTATION_FORM),
    ("POST", "/gestion/consultations/{consultation_id}/publier"): lambda w, u, a: Call(
        f"/gestion/consultations/{w.draft.id}/publier", {}),
    ("POST", "/gestion/consultations/{consultation_id}/dupliquer"): lambda w, u, a: Call(
        f"/gestion/consultations/{w.open.id}/dupliquer", {}),
    ("POST", "/gestion/consultations/{consultation_id}/archiver"): lambda w, u, a: Call(
        f"/gestion/consultations/{w.open.id}/archiver", {}),
    ("POST", "/gestion/consultations/{consultation_id}/clore-la-phase"): lambda w, u, a: Call(
        f"/gestion/consultations/{w.open.id}/clore-la-phase", {"phase": "proposals"}),
    ("POST", "/api/v1/consultations/{consultation_id}/publish"): lambda w, u, a: Call(
        f"/api/v1/consultations/{w.draft.id}/publish", json={}),
    ("POST", "/api/v1/consultations/{consultation_id}/archive"): lambda w, u, a: Call(
        f"/api/v1/consultations/{w.open.id}/archive", json={}),
    ("POST", "/gestion/moderation/{path_type}/{target_id}/masquer"): lambda w, u, a: Call(
        f"/gestion/moderation/propositions/{w.published.id}/masquer", {"reason": REASON}),
    ("POST", "/gestion/moderation/{path_type}/{target_id}/retablir"): lambda w, u, a: Call(
        f"/gestion/moderation/propositions/{w.hidden.id}/retablir", {}),
    ("POST", "/gestion/moderation/{path_type}/{target_id}/approuver"): lambda w, u, a: Call(
        f"/gestion/moderation/propositions/{w.pending.id}/approuver", {}),
    ("POST", "/gestion/moderation/lot"): lambda w, u, a: Call(
        "/gestion/moderation/lot", {"action": "hide", "items": [f"proposal:{w.published.id}"], "reason": REASON}),
    ("POST", "/gestion/moderation/personnes/{user_id}/blocage"): lambda w, u, a: Call(
        f"/gestion/moderation/personnes/{w.author.id}/blocage", {"until": "2027-03-08", "reason": REASON}),
    ("POST", "/gestion/moderation/personnes/{user_id}/deblocage"): lambda w, u, a: Call(
        f"/gestion/moderation/personnes/{w.blocked.id}/deblocage", {}),
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/hide"): lambda w, u, a: Call(
        f"/api/v1/moderation/proposal/{w.published.id}/hide", json={"reason": REASON}),
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/restore"): lambda w, u, a: Call(
        f"/api/v1/moderation/proposal/{w.hidden.id}/restore", json={}),
    ("POST", "/api/v1/moderation/{target_type}/{target_id}/approve"): lambda w, u, a: Call(
        f"/api/v1/moderation/proposal/{w.pending.id}/approve", json={}),
    ("POST", "/api/v1/moderation/bulk"): lambda w, u, a: Call(
        "/api/v1/moderation/bulk", json={"action": "hide", "items": [f"proposal:{w.published.id}"], "reason": REASON}),
    ("POST", "/api/v1/moderation/users/{user_id}/block"): lambda w, u, a: Call(
        f"/api/v1/moderation/users/{w.author.id}/block", json={"until": "2027-03-08T12:00:00Z", "reason": REASON}),
    ("POST", "/api/v1/moderation/users/{user_id}/unblock"): lambda w, u, a: Call(
        f"/api/v1/moderation/users/{w.blocked.id}/unblock", json={}),
    ("POST", "/gestion/propositions/{proposal_id}/reponse"): lambda w, u, a: Call(
        f"/gestion/propositions/{w.published.id}/reponse",
        {"state": "evaluating", "answer": "Nous étudions cette proposition avec les services."}),
    ("POST", "/gestion/propositions/{proposal_id}/fusion"): lambda w, u, a: Call(
        f"/gestion/propositions/{w.published.id}/fusion", {"sources": [str(w.duplicate.id)]}),
    ("GET", "/gestion/actions/nouvelle"): lambda w, u, a: Call(f"/gestion/actions/nouvelle?consultation={w.open.id}"),
    ("POST", "/gestion/actions/nouvelle"): lambda w, u, a: Call(
        "/gestion/actions/nouvelle", {"consultation": str(w.open.id), "title": "Des bancs publics", "owner": "Mairie"}),
    ("POST", "/gestion/actions/{action_id}/modifier"): lambda w, u, a: Call(
        f"/gestion/actions/{w.action.id}/modifier", {"title": "Des bancs neufs", "owner": "Mairie"}),
    ("POST", "/gestion/actions/{action_id}/avancement"): lambda w, u, a: Call(
        f"/gestion/actions/{w.action.id}/avancement",
        {"occurred_on": "2027-03-01", "body": "Les bancs sont commandés.", "status": "in_progress", "progress": "10"}),
    ("POST", "/api/v1/proposals/{proposal_id}/answer"): lambda w, u, a: Call(
        f"/api/v1/proposals/{w.published.id}/answer",
        json={"state": "evaluating", "answer": "Nous étudions cette proposition avec les services."}),
    ("POST", "/api/v1/proposals/merge"): lambda w, u, a: Call(
        "/api/v1/proposals/merge", json={"into": w.published.id, "from": [w.duplicate.id]}),
    ("POST", "/api/v1/actions"): lambda w, u, a: Call(
        "/api/v1/actions", json={"consultation_id": w.open.id, "title": "Des bancs publics", "owner": "Mairie"}),
    ("PATCH", "/api/v1/actions/{action_id}"): lambda w, u, a: Call(
        f"/api/v1/actions/{w.action.id}", json={"title": "Des bancs neufs"}),
    ("POST", "/api/v1/actions/{action_id}/updates"): lambda w, u, a: Call(
        f"/api/v1/actions/{w.action.id}/updates",
        json={"occurred_on": "2027-03-01", "body": "Les bancs sont commandés.", "status": "in_progress",
              "progress": 10}),
    ("POST", "/guichet/inscrire"): lambda w, u, a: Call(
        "/guichet/inscrire", {"display_name": "Jeanne D.", "given_name": "Jeanne", "family_name": "Dumont",
                              "commune": "62510", "birth_year": "1950", "terms_accepted": "yes"}),
    ("GET", "/guichet/habitants/{user_id}"): lambda w, u, a: Call(f"/guichet/habitants/{w.resident.id}"),
    ("POST", "/guichet/habitants/{user_id}/residence"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/residence", {}),
    ("GET", "/guichet/habitants/{user_id}/proposer/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/proposer/{w.open.slug}"),
    ("POST", "/guichet/habitants/{user_id}/proposer/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/proposer/{w.open.slug}",
        {"title": "Un banc devant la mairie", "body": "Pour que les anciens puissent s’asseoir en attendant le bus."}),
    ("GET", "/guichet/habitants/{user_id}/soutenir/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/soutenir/{w.voting.slug}"),
    ("POST", "/guichet/habitants/{user_id}/soutenir/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/soutenir/{w.voting.slug}", {"proposal": str(w.supported.id)}),
    ("GET", "/guichet/habitants/{user_id}/voter/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/voter/{w.judgment.slug}"),
    ("POST", "/guichet/habitants/{user_id}/voter/{slug}"): lambda w, u, a: Call(
        f"/guichet/habitants/{w.resident.id}/voter/{w.judgment.slug}", _ballot(w)),
    ("POST", "/guichet/habitants/{user_id}/code"): lambda w, u, a: Call(f"/guichet/habitants/{w.resident.id}/code",
                                                                       {}),
    ("GET", "/gestion/exports/{consultation_id}/fichier"): lambda w, u, a: Call(_export_link(w, u, a)),
    ("POST", "/gestion/avis/{evaluation_id}/masquer"): lambda w, u, a: Call(
        _path("/gestion/avis/{evaluation_id}/masquer", w), {}),
    ("POST", "/gestion/avis/{evaluation_id}/retablir"): lambda w, u, a: Call(
        _path("/gestion/avis/{evaluation_id}/retablir", w), {}),
}


def _ballot(w: World) -> dict[str, str]:
    session = Session.object_session(w.judgment)
    assert session is not None
    ids = session.exec(select(Proposal.id).where(Proposal.consultation_id == w.judgment.id)).all()
    return {f"grade-{proposal_id}": "bien" for proposal_id in ids}


def _export_link(w: World, user: User | None, app: FastAPI) -> str:
    session = Session.object_session(w.open)
    assert session is not None
    signer = user if user is not None else w.people["admin"]
    assert signer is not None
    return signed_link(app.state.settings.secret_key, accounts.load_principal(session, signer), w.open.id or 0,
                       Format.csv, What.proposals, now=NOW)


def call_for(route: tuple[str, str], w: World, user: User | None, app: FastAPI) -> Call:
    method, template = route
    if route in CALLS:
        return CALLS[route](w, user, app)
    if method not in SAFE_METHODS:
        pytest.fail(f"{method} {template}: say what to send (CALLS)")
    return Call(_path(template, w))


# --- sending it as that person, and judging the answer


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


@dataclass
class Browser:
    """One client for everybody: the CSRF cookie and token are fetched once and kept, the rest changes."""

    client: TestClient
    app: FastAPI
    session: Session
    token: str = ""
    cookie: str = ""

    def __post_init__(self) -> None:
        self.token = csrf(self.client)
        self.cookie = self.client.cookies[CSRF_COOKIE]

    def as_(self, user: User | None, *, api: bool) -> None:
        self.client.cookies.clear()
        if api:
            return  # a program: a bearer token or nothing, no cookie
        self.client.cookies.set(CSRF_COOKIE, self.cookie, domain="testserver.local")
        if user is not None:
            sign_in(self.client, self.app, user)


def audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


def send(browser: Browser, route: tuple[str, str], w: World, who: str) -> Response:
    user = w.people[who]
    call = call_for(route, w, user, browser.app)
    method, template = route
    api = template.startswith("/api/")
    browser.as_(user, api=api)
    client = browser.client
    if api:
        headers = bearer(browser.session, user) if user is not None else {}
        return client.request(method, call.path, json=call.json if method not in SAFE_METHODS else None,
                              headers=headers, follow_redirects=False)
    if method in SAFE_METHODS:
        return client.request(method, call.path, follow_redirects=False)
    data = {**(call.form or {}), "csrf_token": browser.token}
    return client.request(method, call.path, data=data, follow_redirects=False)


def judge(response: Response, route: tuple[str, str], who: str, outcome: str, *, written: int) -> str | None:
    """What is wrong with this answer, if anything."""
    method, template = route
    status, where = response.status_code, response.headers.get("location", "")
    api = template.startswith("/api/")
    told = f"{method} {template} as {who}: {status} {where}".strip()
    if status >= 500:
        return f"{told}: server error"
    if outcome == "S":
        ok = status == 401 if api else (status == 303 and where.startswith("/connexion?next="))
        return None if ok and not written else f"{told}: expected to be asked to sign in"
    if outcome == "X":
        return None if status in (403, 404) and not written else f"{told}: expected a refusal" + (
            f", {written} audit entries written" if written else "")
    if outcome == "F":
        return None if 400 <= status < 500 and status != 401 and not written else f"{told}: expected the form again"
    if outcome == "N":
        return None if status not in (401, 403) and not written else f"{told}: expected nothing done"
    refused = status in (401, 403, 404) or where.startswith("/connexion")
    if refused:
        return f"{told}: refused, but allowed by the table"
    if method not in SAFE_METHODS and not written:
        errors = re.findall(r'class="cr-error-text">([^<]*)<|"detail":\s*"([^"]*)"', response.text)
        return f"{told}: allowed but did nothing (no audit entry) {errors[:5]}"
    return None


def world_for(session: Session) -> World:
    return make_world(session)


ALLOWED_UNSAFE = [(route, who) for route in EXPECTED if route[0] not in SAFE_METHODS
                  for who, outcome in zip(PEOPLE, EXPECTED[route].split(), strict=True) if outcome == "O"]


def route_id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("route", sorted(EXPECTED, key=lambda r: (r[1], r[0])), ids=route_id)
def test_refusals_and_readers(client: TestClient, app: FastAPI, session: Session, route: tuple[str, str]) -> None:
    """Every refused person (and every allowed reader), in one world: refusals change nothing."""
    w = world_for(session)
    browser = Browser(client, app, session)
    wrong = []
    for who, outcome in expected(route).items():
        if outcome == "O" and route[0] not in SAFE_METHODS:
            continue  # in a world of its own (test_allowed_acts)
        before = audit_count(session)
        response = send(browser, route, w, who)
        problem = judge(response, route, who, outcome, written=audit_count(session) - before)
        if problem:
            wrong.append(problem)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("route", "who"), ALLOWED_UNSAFE, ids=[f"{route_id(r)} as {w}" for r, w in ALLOWED_UNSAFE])
def test_allowed_acts(client: TestClient, app: FastAPI, session: Session, route: tuple[str, str], who: str) -> None:
    w = world_for(session)
    browser = Browser(client, app, session)
    before = audit_count(session)
    response = send(browser, route, w, who)
    problem = judge(response, route, who, "O", written=audit_count(session) - before)
    assert problem is None, problem
