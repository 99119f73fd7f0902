"""Who may use each route of the whole application (SECURITY-NOTES A1 route × role matrix, A2 IDOR
by id swapping, E3 export links checked at download time).

Every route is taken from app.routes: test_every_route_is_in_a_table fails when a route is in
neither this file's table (EXPECTED) nor the back office's (tests/backoffice/test_access_matrix.py,
whose world, requests and judge are reused here). The back office's table names eight people; this
one adds three: a resident outside the consultations' scope (commune 62427, the consultations of the
paths being scoped to 62510) and a resident barred from participating (participation_blocked_until
in the future), and the author of the objects in the paths (Auguste), so that every "refused to
others" is matched by "allowed to its owner". The back-office routes are also tried with those
three (refused like any resident).

Symbols (PEOPLE's order):
    S  asked to sign in: a page sends to /connexion?next= (303), the API answers 401 problem+json
    X  refused: 403 (a page, or problem+json under /api)
    H  not found: 404, where the object's existence must not leak to this person
    F  refused by the rules (phase, scope, form): a 4xx that is neither 401, 403 nor 404
    O  allowed: a 2xx or 3xx that is not the sign-in page

One test per person (and database): one app, one world; each request runs inside a SAVEPOINT
rolled back afterwards, so an allowed act (withdrawing, erasing one's account…) never changes what
the next request finds, and a refused one is checked to have written nothing (the
rows of the tables a request could write, their contents and not only their counts)."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Connection
from sqlmodel import Session, SQLModel, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.actions.models import PublicAction
from app.core.csrf import CSRF_COOKIE, SAFE_METHODS
from app.core.errors import PROBLEM_JSON
from app.core.settings import Settings
from app.main import create_app
from app.notifications.models import Notification
from app.notifications.policy import unsubscribe_token
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis
from app.voting import ballots
from tests.backoffice import test_access_matrix as back_office
from tests.consultations.test_api import body as consultation_body
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import csrf, sign_in
from tests.support import cheap_password_hashing

PEOPLE = ("visitor", "author", "resident", "outsider", "blocked", "mediator of 62510", "mediator of 62427",
          "moderator of axis 1", "moderator of axis 2", "evaluator", "admin")
EXTRA = ("author", "outsider", "blocked")  # the people this matrix adds to the back office's

# --- THE TABLE. Columns, in PEOPLE's order:
#   visitor · author (Auguste, who owns the objects of the paths) · resident of 62510 · resident of 62427
#   (outside the scope) · blocked resident of 62510 · mediator of 62510 · mediator of 62427 · moderator of
#   axis 1 · moderator of axis 2 · evaluator · admin
# Staff are residents of 62510 too (they take part like anyone). The objects of the paths (proposal,
# comment, notification, access token…) are Auguste's, in consultations of axis 1 scoped to 62510.
PUBLIC = "O O O O O O O O O O O"
SIGNED_IN = "S O O O O O O O O O O"
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/accessibilite"): PUBLIC,
    ("GET", "/actions"): PUBLIC,
    ("GET", "/actions/{action_id}"): PUBLIC,
    ("POST", "/actions/{action_id}/evaluation"): "S O O X X O O O O O O",  # in the scope, not barred
    ("POST", "/apercu"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/v1/actions"): PUBLIC,
    ("GET", "/api/v1/actions/{action_id}"): PUBLIC,
    ("GET", "/api/v1/actions/{action_id}/evaluation"): PUBLIC,
    ("POST", "/api/v1/actions/{action_id}/evaluation"): "S O O X X O O O O O O",  # in the scope, not barred
    ("GET", "/api/v1/assisted/residents"): "S X X X X O O X X X O",
    ("POST", "/api/v1/assisted/residents"): "S X X X X O X X X X O",
    ("GET", "/api/v1/assisted/residents/{user_id}"): "S X X X X O X X X X O",
    ("PUT", "/api/v1/assisted/residents/{user_id}/ballots/{consultation_id}"): "S X X X X O X X X X O",
    ("POST", "/api/v1/assisted/residents/{user_id}/claim-code"): "S X X X X O X X X X O",
    ("POST", "/api/v1/assisted/residents/{user_id}/proposals"): "S X X X X O X X X X O",
    ("DELETE", "/api/v1/assisted/residents/{user_id}/supports/{proposal_id}"): "S X X X X O X X X X O",
    ("PUT", "/api/v1/assisted/residents/{user_id}/supports/{proposal_id}"): "S X X X X O X X X X O",
    ("POST", "/api/v1/assisted/residents/{user_id}/verify"): "S X X X X O X X X X O",
    ("GET", "/api/v1/axes"): PUBLIC,
    ("DELETE", "/api/v1/comments/{comment_id}"): "S O X X X X X X X X X",
    ("PATCH", "/api/v1/comments/{comment_id}"): "S O X X X X X X X X X",
    ("GET", "/api/v1/consultations"): PUBLIC,
    ("POST", "/api/v1/consultations"): "S X X X X X X O X X O",
    ("GET", "/api/v1/consultations/{consultation_id}"): PUBLIC,
    ("PATCH", "/api/v1/consultations/{consultation_id}"): "S X X X X X X O X X O",
    ("DELETE", "/api/v1/consultations/{consultation_id}/ballot"): "S O H X X H H H H H H",
    ("GET", "/api/v1/consultations/{consultation_id}/ballot"): "S O H H H H H H H H H",
    ("PUT", "/api/v1/consultations/{consultation_id}/ballot"): "S O O X X O O O O O O",
    ("GET", "/api/v1/consultations/{consultation_id}/export"): "S X X X X X X O X O O",
    ("GET", "/api/v1/consultations/{consultation_id}/proposals"): PUBLIC,
    ("POST", "/api/v1/consultations/{consultation_id}/proposals"): "S O O X X O O O O O O",
    ("GET", "/api/v1/consultations/{consultation_id}/results"): PUBLIC,
    ("DELETE", "/api/v1/me"): SIGNED_IN,
    ("GET", "/api/v1/me"): SIGNED_IN,
    ("GET", "/api/v1/me/export"): SIGNED_IN,
    ("GET", "/api/v1/proposals/{proposal_id:int}"): PUBLIC,  # Auguste's: its author only
    ("PATCH", "/api/v1/proposals/{proposal_id:int}"): "S O X X X X X X X X X",  # Auguste's: its author only
    ("GET", "/api/v1/proposals/{proposal_id}/comments"): PUBLIC,
    # comments are open to every resident; a barred one gets 409 cannot-comment (tests/moderation/test_blocking.py)
    ("POST", "/api/v1/proposals/{proposal_id}/comments"): "S O O O F O O O O O O",
    ("DELETE", "/api/v1/proposals/{proposal_id}/support"): "S O O X X O O O O O O",
    ("PUT", "/api/v1/proposals/{proposal_id}/support"): "S O O X X O O O O O O",
    ("POST", "/api/v1/proposals/{proposal_id}/withdraw"): "S O X X X X X X X X X",
    ("POST", "/api/v1/reports"): SIGNED_IN,
    ("GET", "/api/v1/stats/participation"): "S X X X X X X O X O O",
    ("GET", "/api/v1/stats/representativeness"): "S X X X X X X O X O O",  # ?axis=1: its moderators, evaluators, admins
    ("GET", "/api/v1/territory/communes"): PUBLIC,
    ("GET", "/api/v1/territory/epcis"): PUBLIC,
    ("POST", "/api/v1/users/{user_id}/residence-verification"): "S X X X X O X X X X O",
    ("GET", "/auth/{name}/callback"): "H H H H H H H H H H H",
    ("GET", "/auth/{name}/logged-out"): "H H H H H H H H H H H",
    ("GET", "/auth/{name}/login"): "H H H H H H H H H H H",  # no identity provider configured here
    ("GET", "/axes/{slug}"): PUBLIC,
    ("GET", "/commentaires/{comment_id}/modifier"): "S O X X X X X X X X X",  # Auguste's comment: its author only
    ("POST", "/commentaires/{comment_id}/modifier"): "S O X X X X X X X X X",  # Auguste's comment: its author only
    ("POST", "/commentaires/{comment_id}/supprimer"): "S O X X X X X X X X X",
    ("GET", "/compte"): SIGNED_IN,
    ("GET", "/compte/bienvenue"): SIGNED_IN,
    ("POST", "/compte/bienvenue"): SIGNED_IN,
    ("GET", "/compte/donnees.json"): SIGNED_IN,
    ("POST", "/compte/jetons"): SIGNED_IN,
    ("POST", "/compte/jetons/{token_id}/revoquer"): "S O H H H H H H H H H",
    ("POST", "/compte/mot-de-passe"): "S F F F F F F F F F F",  # one's own; nobody here has a password
    ("POST", "/compte/profil"): SIGNED_IN,
    ("GET", "/compte/reclamer"): PUBLIC,
    ("POST", "/compte/reclamer"): "F F F F F F F F F F F",
    ("POST", "/compte/sessions/fermer"): SIGNED_IN,
    ("GET", "/compte/supprimer"): SIGNED_IN,
    ("POST", "/compte/supprimer"): SIGNED_IN,
    ("GET", "/conditions-utilisation"): PUBLIC,
    ("GET", "/connexion"): PUBLIC,
    ("POST", "/connexion"): "F F F F F F F F F F F",
    ("GET", "/consultations/{slug}"): PUBLIC,
    ("GET", "/consultations/{slug}/proposer"): "S O O X X O O O O O O",  # in the scope (62510), not barred
    ("POST", "/consultations/{slug}/proposer"): "S O O X X O O O O O O",  # in the scope (62510), not barred
    ("GET", "/consultations/{slug}/resultats"): PUBLIC,
    ("POST", "/consultations/{slug}/suivre"): SIGNED_IN,
    ("GET", "/consultations/{slug}/vote"): "S O O X X O O O O O O",
    ("POST", "/consultations/{slug}/vote"): "S O O X X O O O O O O",
    ("POST", "/consultations/{slug}/vote/retirer"): "S O O X X O O O O O O",
    ("POST", "/consultations/{slug}/vote/total"): "F F F F F F F F F F F",  # a budget's sum (not this method)
    ("POST", "/deconnexion"): PUBLIC,
    ("GET", "/donnees-personnelles"): PUBLIC,
    ("GET", "/evaluation"): "S X X X X X X O O O O",
    ("GET", "/evaluation/donnees.csv"): "S X X X X X X O O O O",
    ("GET", "/evaluation/representativite"): "S X X X X X X O O O O",
    ("GET", "/evaluation/representativite.csv"): "S X X X X X X O O O O",
    ("GET", "/evaluation/satisfaction"): "S X X X X X X O O O O",
    ("GET", "/evaluation/satisfaction.csv"): "S X X X X X X O O O O",
    ("GET", "/evaluation/{page}"): "S X X X X X X O O O O",
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/inscription"): PUBLIC,
    ("POST", "/inscription"): PUBLIC,
    ("GET", "/inscription/confirmer"): PUBLIC,
    ("POST", "/inscription/confirmer"): "F F F F F F F F F F F",
    ("GET", "/langue/{locale}"): PUBLIC,
    ("GET", "/mentions-legales"): PUBLIC,
    ("GET", "/mot-de-passe-oublie"): PUBLIC,
    ("POST", "/mot-de-passe-oublie"): PUBLIC,
    ("GET", "/mot-de-passe/nouveau"): PUBLIC,
    ("POST", "/mot-de-passe/nouveau"): "F F F F F F F F F F F",
    ("GET", "/notifications"): SIGNED_IN,
    ("GET", "/notifications/desabonnement/{token}"): PUBLIC,
    ("POST", "/notifications/desabonnement/{token}"): PUBLIC,
    ("GET", "/notifications/preferences"): SIGNED_IN,
    ("POST", "/notifications/preferences"): SIGNED_IN,
    ("POST", "/notifications/tout-lire"): SIGNED_IN,
    ("POST", "/notifications/{notification_id}/lue"): "S O H H H H H H H H H",
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/propositions/{proposal_id}"): PUBLIC,
    ("POST", "/propositions/{proposal_id}/commentaires"): "S O O O F O O O O O O",
    ("GET", "/propositions/{proposal_id}/modifier"): "S O X X X X X X X X X",  # Auguste's proposal: its author only
    ("POST", "/propositions/{proposal_id}/modifier"): "S O X X X X X X X X X",  # Auguste's proposal: its author only
    ("GET", "/propositions/{proposal_id}/retirer"): "S O X X X X X X X X X",
    ("POST", "/propositions/{proposal_id}/retirer"): "S O X X X X X X X X X",
    ("POST", "/propositions/{proposal_id}/soutien"): "S O O X X O O O O O O",
    ("POST", "/propositions/{proposal_id}/suivre"): SIGNED_IN,
    ("GET", "/signalements"): SIGNED_IN,
    ("POST", "/signalements"): SIGNED_IN,
    ("GET", "/territoire"): PUBLIC,
    ("GET", "/theme.css"): PUBLIC,
}


def app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(_env_file=None, secret_key="x" * 40, database_url="sqlite://"))
    found = set()
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            if method != "HEAD" and context.path:
                found.add((method, context.path))
    app.state.engine.dispose()
    return sorted(found, key=lambda route: (route[1], route[0]))


ROUTES = app_routes()
MINE = [route for route in ROUTES if not back_office.in_matrix(*route)]


def test_every_route_is_in_a_table() -> None:
    missing = [f"{m} {p}" for m, p in MINE if (m, p) not in EXPECTED]
    assert not missing, "Say who may use these routes (EXPECTED): " + ", ".join(missing)
    unjudged = [f"{m} {p}" for m, p in ROUTES if back_office.in_matrix(m, p) and (m, p) not in back_office.EXPECTED]
    assert not unjudged, "The back office's table misses: " + ", ".join(unjudged)
    gone = [f"{m} {p}" for m, p in EXPECTED if (m, p) not in MINE]
    assert not gone, "These routes are gone (or belong to the back office's table): " + ", ".join(gone)


def test_the_table_is_well_formed() -> None:
    for route, cells in EXPECTED.items():
        symbols = cells.split()
        assert len(symbols) == len(PEOPLE), route
        assert set(symbols) <= {"S", "X", "H", "F", "O"}, route
        assert symbols[0] in ("S", "O", "F", "H"), f"{route}: a visitor is asked to sign in, never told 403"
        assert "X" not in symbols or "O" in symbols, f"{route}: refused to some, so allowed to someone"


# --- the world: the back office's, and what the rest of the application needs


@dataclass
class World:
    base: back_office.World
    people: dict[str, User | None]
    tokens: dict[str, dict[str, str]]  # each person's bearer header
    proposing: Any  # proposals phase, commune 62510
    voting: Any  # voting (supports), commune 62510
    judgment: Any  # voting (majority judgment), commune 62510
    results: Any  # results phase
    draft: Any  # not published
    proposal: Proposal  # Auguste's, in `proposing`
    supported: Proposal  # Auguste's, in `voting`
    comment: Comment  # Auguste's, on `proposal`
    notification: Notification  # Auguste's
    access_token_id: int  # Auguste's
    unsubscribe: str  # Auguste's one-click unsubscribe token
    claimable: User  # registered at the counter (62510), no online account
    axis_slug: str  # of axis 1
    followed: PublicAction  # of a consultation of 62510 in its follow-up phase: residents rate it


def make_world(session: Session) -> World:
    base = back_office.make_world(session)
    outsider = make_user(session, name="Odile", commune="62427")
    people = {**base.people, "author": base.author, "outsider": outsider, "blocked": base.blocked}
    author = base.author
    local = {"scope_kind": "commune", "scope_code": "62510"}
    proposing = make_consultation(session, phase="proposals", **local)
    voting = make_consultation(session, phase="voting", **local)
    judgment = make_consultation(session, phase="voting", voting_method="majority_judgment", **local)
    results = make_consultation(session, phase="results", **local)
    draft = make_consultation(session, phase="proposals", status="draft", **local)
    following = make_consultation(session, phase="follow_up", **local)
    followed = PublicAction(consultation_id=following.id or 0, title="Un banc", owner="Mairie", created_at=NOW,
                            updated_at=NOW)
    proposal = make_proposal(session, proposing, author, comments_count=1)  # the comment below
    supported = make_proposal(session, voting, author)
    graded = [make_proposal(session, judgment, author) for _n in range(2)]
    make_proposal(session, results, author)
    # Auguste's ballot: "excellent" everywhere (the others reach only their own ballot, none)
    ballots.cast_ballot(session, accounts.load_principal(session, author), judgment,
                        grades={p.id or 0: "excellent" for p in graded}, now=NOW)
    comment = Comment(proposal_id=proposal.id or 0, author_id=author.id or 0, body="D’accord",
                      body_html="<p>D’accord</p>", created_at=NOW, updated_at=NOW)
    notification = Notification(user_id=author.id or 0, kind="official_answer", target_type="proposal",
                                target_id=proposal.id or 0, title="Réponse", url=f"/propositions/{proposal.id}",
                                created_at=NOW)
    session.add_all([comment, notification, followed])
    token, _raw = accounts.create_access_token(session, author, name="son script", now=NOW)
    session.flush()
    tokens = {who: bearer(session, user) for who, user in people.items() if user is not None}
    return World(base, people, tokens, proposing, voting, judgment, results, draft, proposal, supported, comment,
                 notification, token.id or 0, unsubscribe_token("x" * 40, author.id or 0), base.resident,
                 session.exec(select(Axis.slug).where(Axis.number == 1)).one(), followed)


# --- the request each route gets


def _values(w: World) -> dict[str, object]:
    return {
        "consultation_id": w.proposing.id, "proposal_id": w.proposal.id, "proposal_id:int": w.proposal.id,
        "action_id": w.base.action.id, "user_id": w.claimable.id, "comment_id": w.comment.id,
        "notification_id": w.notification.id, "token_id": w.access_token_id, "token": w.unsubscribe,
        "slug": w.proposing.slug, "name": "franceconnect", "page": "axes", "locale": "en",
    }


def path_of(template: str, w: World, **overrides: object) -> str:
    values = {**_values(w), **overrides}
    return re.sub(r"\{([\w:]+)\}", lambda m: str(values[m.group(1)]), template)


PROPOSAL_FORM = {"title": "Un banc devant la mairie", "body": "Pour que les anciens puissent s’asseoir au soleil."}


def calls(w: World) -> dict[tuple[str, str], tuple[str, dict[str, Any] | None, Any]]:
    """(path, form, json) of the requests that need more than the path of _values."""
    judgment_ids = [p.id for p in Session.object_session(w.judgment).exec(  # type: ignore[union-attr]
        select(Proposal).where(Proposal.consultation_id == w.judgment.id)).all()]
    return {
        ("POST", "/actions/{action_id}/evaluation"): (path_of("/actions/{action_id}/evaluation", w,
                                                              action_id=w.followed.id),
                                                      {"rating": "4", "comment": "Bien"}, None),
        ("POST", "/apercu"): ("/apercu", {"body": "**gras**"}, None),
        ("POST", "/api/v1/actions/{action_id}/evaluation"): (path_of("/api/v1/actions/{action_id}/evaluation", w,
                                                                     action_id=w.followed.id),
                                                             None, {"rating": 4}),
        ("POST", "/api/v1/assisted/residents"): ("/api/v1/assisted/residents", None, {
            "display_name": "Jeanne D.", "given_name": "Jeanne", "family_name": "Dumont", "commune": "62510",
            "birth_year": 1950, "terms_accepted": True}),
        ("PUT", "/api/v1/assisted/residents/{user_id}/ballots/{consultation_id}"): (
            path_of("/api/v1/assisted/residents/{user_id}/ballots/{consultation_id}", w, consultation_id=w.judgment.id),
            None, {"grades": {str(i): "bien" for i in judgment_ids}}),
        ("POST", "/api/v1/assisted/residents/{user_id}/proposals"): (
            path_of("/api/v1/assisted/residents/{user_id}/proposals", w), None,
            {"consultation_id": w.proposing.id, **PROPOSAL_FORM}),
        ("PUT", "/api/v1/assisted/residents/{user_id}/supports/{proposal_id}"): (
            path_of("/api/v1/assisted/residents/{user_id}/supports/{proposal_id}", w, proposal_id=w.supported.id),
            None, None),
        ("DELETE", "/api/v1/assisted/residents/{user_id}/supports/{proposal_id}"): (
            path_of("/api/v1/assisted/residents/{user_id}/supports/{proposal_id}", w, proposal_id=w.supported.id),
            None, None),
        ("PATCH", "/api/v1/comments/{comment_id}"): (path_of("/api/v1/comments/{comment_id}", w), None,
                                                     {"body": "Changé"}),
        ("POST", "/api/v1/consultations"): ("/api/v1/consultations", None, consultation_body(status="draft")),
        ("GET", "/api/v1/assisted/residents"): ("/api/v1/assisted/residents?name=Rosa", None, None),
        ("GET", "/api/v1/stats/participation"): ("/api/v1/stats/participation?by=commune&axis=1", None, None),
        ("GET", "/api/v1/stats/representativeness"): ("/api/v1/stats/representativeness?axis=1", None, None),
        ("GET", "/axes/{slug}"): (f"/axes/{w.axis_slug}", None, None),
        ("PATCH", "/api/v1/consultations/{consultation_id}"): (path_of("/api/v1/consultations/{consultation_id}", w),
                                                               None, {"title": "Un autre titre"}),
        ("GET", "/api/v1/consultations/{consultation_id}/ballot"): (
            path_of("/api/v1/consultations/{consultation_id}/ballot", w, consultation_id=w.judgment.id), None, None),
        ("PUT", "/api/v1/consultations/{consultation_id}/ballot"): (
            path_of("/api/v1/consultations/{consultation_id}/ballot", w, consultation_id=w.judgment.id), None,
            {"grades": {str(i): "bien" for i in judgment_ids}}),
        ("DELETE", "/api/v1/consultations/{consultation_id}/ballot"): (
            path_of("/api/v1/consultations/{consultation_id}/ballot", w, consultation_id=w.judgment.id), None, None),
        ("GET", "/api/v1/consultations/{consultation_id}/results"): (
            path_of("/api/v1/consultations/{consultation_id}/results", w, consultation_id=w.results.id), None, None),
        ("POST", "/api/v1/consultations/{consultation_id}/proposals"): (
            path_of("/api/v1/consultations/{consultation_id}/proposals", w), None, PROPOSAL_FORM),
        ("PATCH", "/api/v1/proposals/{proposal_id:int}"): (path_of("/api/v1/proposals/{proposal_id:int}", w), None,
                                                          {"title": "Un banc tout neuf devant la mairie"}),
        ("POST", "/api/v1/proposals/{proposal_id}/comments"): (path_of("/api/v1/proposals/{proposal_id}/comments", w),
                                                               None, {"body": "Bonne idée"}),
        ("PUT", "/api/v1/proposals/{proposal_id}/support"): (
            path_of("/api/v1/proposals/{proposal_id}/support", w, proposal_id=w.supported.id), None, None),
        ("DELETE", "/api/v1/proposals/{proposal_id}/support"): (
            path_of("/api/v1/proposals/{proposal_id}/support", w, proposal_id=w.supported.id), None, None),
        ("POST", "/api/v1/proposals/{proposal_id}/withdraw"): (path_of("/api/v1/proposals/{proposal_id}/withdraw", w),
                                                               None, {}),
        ("POST", "/api/v1/reports"): ("/api/v1/reports", None, {"target_type": "proposal", "target_id": w.proposal.id,
                                                                "reason": "spam"}),
        ("POST", "/api/v1/users/{user_id}/residence-verification"): (
            path_of("/api/v1/users/{user_id}/residence-verification", w), None, {}),
        ("POST", "/api/v1/assisted/residents/{user_id}/verify"): (
            path_of("/api/v1/assisted/residents/{user_id}/verify", w), None, {}),
        ("POST", "/api/v1/assisted/residents/{user_id}/claim-code"): (
            path_of("/api/v1/assisted/residents/{user_id}/claim-code", w), None, {}),
        ("DELETE", "/api/v1/me"): ("/api/v1/me", None, None),
        ("POST", "/commentaires/{comment_id}/modifier"): (path_of("/commentaires/{comment_id}/modifier", w),
                                                          {"body": "Changé"}, None),
        ("POST", "/compte/bienvenue"): ("/compte/bienvenue", {"commune": "62510", "birth_year": "1980",
                                                              "accept_terms": "yes"}, None),
        ("POST", "/compte/jetons"): ("/compte/jetons", {"name": "Mon script"}, None),
        ("POST", "/compte/mot-de-passe"): ("/compte/mot-de-passe", {"current": "x", "password": "y"}, None),
        ("POST", "/compte/profil"): ("/compte/profil", {"display_name": "Moi-même", "commune": "62510",
                                                        "birth_year": "1980"}, None),
        ("POST", "/compte/reclamer"): ("/compte/reclamer", {"code": "ABCD-EFGH-IJKL", "email": "a@example.fr",
                                                            "password": "un mot de passe très long"}, None),
        ("POST", "/compte/supprimer"): ("/compte/supprimer", {"confirmation": "SUPPRIMER"}, None),
        ("POST", "/connexion"): ("/connexion", {"email": "nobody@example.fr", "password": "faux"}, None),
        ("POST", "/consultations/{slug}/proposer"): (path_of("/consultations/{slug}/proposer", w), PROPOSAL_FORM,
                                                     None),
        ("GET", "/consultations/{slug}/resultats"): (
            path_of("/consultations/{slug}/resultats", w, slug=w.results.slug), None, None),
        ("GET", "/consultations/{slug}/vote"): (path_of("/consultations/{slug}/vote", w, slug=w.judgment.slug), None,
                                                None),
        ("POST", "/consultations/{slug}/vote"): (path_of("/consultations/{slug}/vote", w, slug=w.judgment.slug),
                                                 {f"grade-{i}": "bien" for i in judgment_ids}, None),
        ("POST", "/consultations/{slug}/vote/retirer"): (
            path_of("/consultations/{slug}/vote/retirer", w, slug=w.judgment.slug), {}, None),
        ("POST", "/consultations/{slug}/vote/total"): (
            path_of("/consultations/{slug}/vote/total", w, slug=w.judgment.slug), {}, None),
        ("POST", "/inscription"): ("/inscription", {"email": "new@example.fr", "password": "un mot de passe très long",
                                                    "display_name": "Nouveau"}, None),
        ("POST", "/mot-de-passe-oublie"): ("/mot-de-passe-oublie", {"email": "nobody@example.fr"}, None),
        ("POST", "/notifications/preferences"): ("/notifications/preferences", {"frequency": "daily"}, None),
        ("POST", "/propositions/{proposal_id}/commentaires"): (path_of("/propositions/{proposal_id}/commentaires", w),
                                                               {"body": "Bonne idée"}, None),
        ("POST", "/propositions/{proposal_id}/modifier"): (path_of("/propositions/{proposal_id}/modifier", w),
                                                           PROPOSAL_FORM, None),
        ("POST", "/propositions/{proposal_id}/soutien"): (
            path_of("/propositions/{proposal_id}/soutien", w, proposal_id=w.supported.id), {}, None),
        ("GET", "/signalements"): (f"/signalements?type=proposal&id={w.proposal.id}", None, None),
        ("POST", "/signalements"): ("/signalements", {"target_type": "proposal", "target_id": str(w.proposal.id),
                                                      "reason": "spam"}, None),
    }


# --- sending, judging, and undoing


SEEDED = {"axis", "epci", "commune", "commune_postal_code"}  # the territory: read only
UNTRACKED = {"user_session"}  # the server-side sessions: a request may touch its own
BOOKKEEPING = {"last_used_at", "last_seen_at", "last_sign_in_at"}  # a token's use is noted even when refused


def table_rows(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table a request could write (what a refused request must leave as it was)."""
    rows = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in SEEDED | UNTRACKED:
            continue
        columns = [column for column in table.columns if column.name not in BOOKKEEPING]
        found = session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        rows[table.name] = [tuple(row) for row in found]
    return rows


def classify(response: Response, api: bool) -> str:
    status, where = response.status_code, response.headers.get("location", "")
    if status >= 500:
        return "500"
    if (api and status == 401) or (not api and status == 303 and where.startswith("/connexion?next=")):
        return "S"
    if status == 403:
        return "X"
    if status == 404:
        return "H"
    if 400 <= status < 500:
        return "F"
    return "O"


@dataclass
class Person:
    who: str
    app: FastAPI
    client: TestClient
    session: Session
    w: World
    token: str = ""

    def send(self, method: str, path: str, form: dict[str, Any] | None = None, json: Any = None) -> Response:
        """One request; the browser's cookies are put back afterwards (signing out, erasing one's
        account or changing language happen in the savepoint rolled back, and must not follow)."""
        self.app.state.rate_limiter.reset()
        saved = dict(self.client.cookies)
        try:
            if path.startswith("/api/"):
                self.client.cookies.clear()  # a program: its bearer token, no cookie
                headers = self.w.tokens.get(self.who, {})
                return self.client.request(method, path, json=json if method not in SAFE_METHODS else None,
                                           headers=headers, follow_redirects=False)
            if method in SAFE_METHODS:
                return self.client.request(method, path, follow_redirects=False)
            return self.client.request(method, path, data={**(form or {}), "csrf_token": self.token},
                                       follow_redirects=False)
        finally:
            self.client.cookies.clear()
            for name, value in saved.items():
                self.client.cookies.set(name, value, domain="testserver.local")


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def world(session: Session) -> World:
    w = make_world(session)
    session.commit()  # into the test's outer transaction: every request's savepoint starts from it
    return w


def person(who: str, app: FastAPI, client: TestClient, session: Session, w: World) -> Person:
    p = Person(who, app, client, session, w)
    p.token = csrf(client)
    user = w.people[who]
    if user is not None:
        sign_in(client, app, user)
    assert client.cookies.get(CSRF_COOKIE)
    return p


class Undo:
    """Each request in a SAVEPOINT of the test's connection, rolled back after it."""

    def __init__(self, session: Session, keep: list[object]) -> None:
        self.session = session
        self.keep = {id(obj) for obj in keep}
        bind = session.bind
        assert isinstance(bind, Connection)
        self.connection = bind

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.session.commit()
        savepoint = self.connection.begin_nested()
        try:
            yield
        finally:
            self.session.rollback()
            if savepoint.is_active:
                savepoint.rollback()
            for obj in list(self.session.identity_map.values()):
                if id(obj) not in self.keep:
                    self.session.expunge(obj)
            self.session.expire_all()


def request_for(route: tuple[str, str], w: World, own: dict) -> tuple[str, dict[str, Any] | None, Any]:
    if route in own:
        return own[route]
    method, template = route
    return path_of(template, w), ({} if method not in SAFE_METHODS else None), ({} if method not in SAFE_METHODS
                                                                              else None)


def judge(response: Response, route: tuple[str, str], who: str, outcome: str, *, changed: list[str]) -> str | None:
    method, template = route
    api = template.startswith("/api/")
    got = classify(response, api)
    told = f"{method} {template} as {who}: {response.status_code} {response.headers.get('location', '')}".strip()
    if got == "500":
        return f"{told}: server error"
    if outcome != "O" and changed:
        return f"{told}: expected {outcome} (got {got}), yet it changed {changed}"
    if api and got in ("S", "X", "H") and not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return f"{told}: an API refusal that is not problem+json"
    if got != outcome:
        detail = re.findall(r'"detail":\s*"([^"]*)"|class="cr-error-text">([^<]*)<', response.text)[:3]
        return f"{told}: got {got}, expected {outcome} {detail}"
    return None


def keep_list(w: World) -> list[object]:
    b = w.base
    objects: list[object] = [w.followed, w.proposing, w.voting, w.judgment, w.results, w.draft, w.proposal, w.supported,
                             w.comment, w.notification, w.claimable, b.draft, b.open, b.voting, b.judgment,
                             b.published, b.duplicate, b.pending, b.hidden, b.supported, b.action, b.author,
                             b.blocked, b.resident, b.evaluation]
    return objects + [user for user in w.people.values() if user is not None]


@pytest.mark.parametrize("who", PEOPLE)
def test_matrix(app: FastAPI, client: TestClient, session: Session, world: World, who: str) -> None:
    """Every route of this table (and, for the two people it adds, of the back office's) as `who`."""
    w = world
    p = person(who, app, client, session, w)
    undo = Undo(session, keep_list(w))
    own = calls(w)
    column = PEOPLE.index(who)
    wrong = []
    for route in MINE:
        outcome = EXPECTED[route].split()[column]

        path, form, json = request_for(route, w, own)
        with undo():
            before = table_rows(session)
            response = p.send(route[0], path, form, json)
            after = table_rows(session)
        changed = [name for name in after if after[name] != before[name]]
        problem = judge(response, route, who, outcome, changed=changed)
        if problem:
            wrong.append(problem)
    assert not wrong, "\n".join(wrong)


def _bo_people_column(who: str) -> str:
    return "resident" if who in EXTRA else who


@pytest.mark.parametrize("who", EXTRA)
def test_back_office_refuses_them(app: FastAPI, client: TestClient, session: Session, world: World,
                                  who: str) -> None:
    """The back office's routes, as the two people its own table does not name: refused like a resident."""
    w = world
    p = person(who, app, client, session, w)
    undo = Undo(session, keep_list(w))
    wrong = []
    user = w.people[who]
    for route in sorted(back_office.EXPECTED):
        assert back_office.expected(route)["resident"] == "X"
        call = back_office.call_for(route, w.base, user, app)
        with undo():
            before = table_rows(session)
            response = p.send(route[0], call.path, call.form, call.json)
            after = table_rows(session)
        changed = [name for name in after if after[name] != before[name]]
        got = classify(response, route[1].startswith("/api/"))
        if got not in ("X", "H") or changed:
            wrong.append(f"{route[0]} {route[1]} as {who}: {response.status_code} {changed}")
    assert not wrong, "\n".join(wrong)


# --- object-level checks (A2 id swapping, E3 export links): someone else's things, by their ids


def test_someone_elses_ballot_can_be_neither_read_nor_changed(client: TestClient, session: Session,
                                                               world: World) -> None:
    """The ballot routes take no voter: each person reaches their own ballot, never Auguste's."""
    w = world
    path = f"/api/v1/consultations/{w.judgment.id}/ballot"
    grades = {str(p.id): "a_rejeter" for p in session.exec(
        select(Proposal).where(Proposal.consultation_id == w.judgment.id)).all()}
    mine = client.get(path, headers=w.tokens["resident"])
    assert mine.status_code == 404, mine.text  # the resident has no ballot: Auguste's is not shown
    assert "excellent" not in mine.text
    assert client.put(path, json={"grades": grades}, headers=w.tokens["resident"]).status_code == 200
    assert client.delete(path, headers=w.tokens["admin"]).status_code == 404  # the admin's own: none
    his = client.get(path, headers=w.tokens["author"])
    assert his.status_code == 200
    assert set(his.json()["grades"].values()) == {"excellent"}  # untouched by the others


def test_someone_elses_notification_is_not_found(client: TestClient, app: FastAPI, session: Session,
                                                 world: World) -> None:
    w = world
    for who in ("resident", "admin"):
        browser = person(who, app, client, session, w)
        response = browser.send("POST", f"/notifications/{w.notification.id}/lue")
        assert response.status_code == 404, (who, response.status_code)
        assert "Réponse" not in browser.send("GET", "/notifications").text
    session.refresh(w.notification)
    assert w.notification.read_at is None


def test_an_export_link_replayed_by_someone_else_is_refused(client: TestClient, app: FastAPI, session: Session,
                                                            world: World) -> None:
    """A link signed for the admin, opened by a moderator of the same axis (who may export it with a
    link of their own) and by the evaluator: 403, checked at download time."""
    from app.evaluation.downloads import signed_link
    from app.evaluation.exports import Format, What

    w = world
    admin = accounts.load_principal(session, w.people["admin"])  # type: ignore[arg-type]
    link = signed_link(app.state.settings.secret_key, admin, w.base.open.id or 0, Format.csv, What.proposals,
                       now=NOW)
    for who in ("moderator of axis 1", "evaluator"):
        response = person(who, app, client, session, w).send("GET", link)
        assert response.status_code == 403, (who, response.status_code)
        assert "text/csv" not in response.headers.get("content-type", "")
    assert person("admin", app, client, session, w).send("GET", link).status_code == 200


def test_me_is_always_oneself(client: TestClient, session: Session, world: World) -> None:
    for who, user in world.people.items():
        if user is None:
            continue
        me = client.get("/api/v1/me", headers=world.tokens[who])
        assert me.status_code == 200
        assert me.json()["id"] == user.id, who
        export = client.get("/api/v1/me/export", headers=world.tokens[who])
        assert export.status_code == 200
        if user.id != world.base.author.id:
            assert world.base.author.email not in export.text, who  # nothing of anyone else's


def test_drafts_do_not_leak(client: TestClient, session: Session, world: World) -> None:
    """A draft consultation: not found for the public and residents, seen by its axis's moderators."""
    w = world
    for who in ("visitor", "resident", "moderator of axis 2", "evaluator", "mediator of 62510"):
        headers = w.tokens.get(who, {})
        assert client.get(f"/api/v1/consultations/{w.draft.id}", headers=headers).status_code == 404, who
        assert client.get(f"/api/v1/consultations/{w.draft.id}/proposals", headers=headers).status_code == 404, who
    client.cookies.clear()
    assert client.get(f"/consultations/{w.draft.slug}", follow_redirects=False).status_code == 404
    assert client.get(f"/api/v1/consultations/{w.draft.id}",
                      headers=w.tokens["moderator of axis 1"]).status_code == 200


def test_claim_codes_only_by_the_residents_mediators(client: TestClient, session: Session, world: World) -> None:
    """A claim code for a resident registered at the counter: only the mediators of their commune (and
    admins) issue one; a code claims one account, once."""
    w = world
    path = f"/api/v1/assisted/residents/{w.claimable.id}/claim-code"
    for who in ("resident", "mediator of 62427", "moderator of axis 1", "evaluator"):
        assert client.post(path, headers=w.tokens[who]).status_code in (403, 404), who
    found = client.get("/api/v1/assisted/residents?name=Rosa", headers=w.tokens["mediator of 62427"])
    assert found.status_code == 200
    assert found.json() == []  # Rosa lives in 62510: not in this mediator's search
    issued = client.post(path, headers=w.tokens["mediator of 62510"])
    assert issued.status_code in (200, 201), issued.text
