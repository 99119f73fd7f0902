"""API fuzzing (issue #9 item 3; SECURITY-NOTES D6, also A4 and G2 on JSON): schemathesis generates
requests from the application's own `/openapi.json` and sends them in process (ASGI) to the app on
a seeded database of this module's own (the demonstration content: consultations in every phase,
proposals, supports, comments; plus a majority-judgment and a budget consultation, an action and
its update), as a visitor, a resident, a moderator and an administrator in turn (bearer tokens).

Every answer must hold:
- no 5xx (schemathesis' not_a_server_error);
- the status code, content type, headers and body are the ones the schema documents (its
  conformance checks), errors included: the schema documents them as problem+json;
- every error (4xx) is `application/problem+json` with `type`, `title`, `status` (the status sent)
  and `detail` (our check, below);
- schema-valid data is not refused as invalid (positive_data_acceptance; business refusals are
  401/403/404/409/422-with-a-problem-type) and schema-invalid data is refused (negative_data_rejection).

Bounded and deterministic: derandomized Hypothesis, a few dozen examples per operation, on SQLite
and on PostgreSQL. Behind the `slow` marker (a few minutes on two busy cores); `.ci/run` runs it."""

import itertools
import random
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine
from sqlmodel import Session, select

from app import demo
from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions import service as actions
from app.actions.models import PublicAction
from app.actions.schemas import ActionDraft, UpdateDraft
from app.consultations.models import Consultation
from app.core.errors import PROBLEM_JSON
from app.core.settings import Settings
from app.main import create_app
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis
from tests.concurrency import SECRET, app_on, bearer_for, fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25
ROLES = ("visitor", "resident", "moderator", "admin")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory, "api_fuzz") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=5, pool_timeout=30) as engine:
        yield engine


def seed(engine: Engine) -> dict[str, int]:
    """The demonstration content, a majority-judgment and a budget consultation in their voting
    phase, an action with an update; a resident, a moderator of axis 1 and an administrator."""
    with Session(engine) as session:
        demo.load_demo(session, now=NOW, terms_version="test")
        author = make_user(session)
        for method, budget in (("majority_judgment", None), ("budget", 100_000)):
            consultation = make_consultation(session, voting_method=method, budget_total=budget)
            for cost in (20_000, 50_000, 70_000):
                make_proposal(session, consultation, author, estimated_cost=cost)
        resident, mod, admin = make_user(session), make_user(session), make_user(session)
        axis = session.exec(select(Axis).where(Axis.number == 1)).one()
        accounts.grant_role(session, mod, Role.moderator, now=NOW, axis_id=axis.id)
        accounts.grant_role(session, admin, Role.admin, now=NOW)
        consultation = make_consultation(session, phase="follow_up")
        principal = accounts.load_principal(session, admin)
        action = actions.create_action(session, principal, consultation,
                                       ActionDraft(title="Rénover le préau de l’école", owner="Mairie"), [], now=NOW)
        actions.add_update(session, principal, action,
                           UpdateDraft(occurred_on=date(2027, 2, 20), body="Le chantier a commencé ce mois-ci.",
                                       status="in_progress", progress=20), now=NOW - timedelta(days=1))
        session.commit()
        return {"resident": resident.id or 0, "moderator": mod.id or 0, "admin": admin.id or 0}


@pytest.fixture(scope="module")
def api(engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    people = seed(engine)
    app = app_on(engine, database_url, tmp_path_factory.mktemp("api_fuzz_var"))
    app.state.fuzz_headers = {"visitor": {}} | {role: bearer_for(engine, uid) for role, uid in people.items()}
    app.state.fuzz_engine = engine
    app.state.fuzz_ids = existing_ids(engine)
    return app


def existing_ids(engine: Engine) -> dict[str, list[int]]:
    """The ids of the seeded objects, by path parameter: half the requests name real ones."""
    tables = {"consultation_id": Consultation, "proposal_id": Proposal, "comment_id": Comment,
              "action_id": PublicAction, "user_id": User}
    with Session(engine) as session:
        ids = {name: sorted(session.exec(select(model.id))) for name, model in tables.items()}  # type: ignore[attr-defined]
    ids["target_id"] = ids["proposal_id"] + ids["comment_id"]
    return ids


class Dispatcher:
    """The ASGI application schemathesis calls: the app of the database under test once a test
    has set it, before that an app on no data (which only serves the schema, at collection)."""

    def __init__(self) -> None:
        var = Path(tempfile.mkdtemp(prefix="carreau-fuzz-"))
        self.schema_app = create_app(Settings(_env_file=None, var_dir=var, database_url=f"sqlite:///{var / 'x.db'}",
                                              secret_key=SECRET))
        self.current: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await (self.current or self.schema_app)(scope, receive, send)


# schemathesis' lazy schema (from_fixture) does not run under pytest 9: the schema is loaded at
# collection, from the application's own /openapi.json, and the requests go to the module's app.
dispatcher = Dispatcher()
schema = schemathesis.openapi.from_asgi("/openapi.json", dispatcher)
# Per operation, so that each one sees the same roles and ids whatever runs before it (xdist).
_turns: dict[str, Iterator[int]] = {}


def problem_json_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer of the API is an RFC 9457 problem document."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{response.status_code} answered as {content_type!r}, not {PROBLEM_JSON}")
    body = response.json()
    assert isinstance(body, dict), body
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"problem document without {sorted(missing)}: {body}"
    assert body["status"] == response.status_code, body
    return True


def headers_for(api: FastAPI, case: Any) -> dict[str, str]:
    """The next role in turn, and every other time ids of objects that exist in the path;
    erasing an account is done by a resident made for it."""
    if case.method.upper() == "DELETE" and case.path == "/api/v1/me":
        engine = api.state.fuzz_engine
        with Session(engine) as session:
            user = make_user(session)
            session.commit()
            return bearer_for(engine, user.id or 0)
    turn = next(_turns.setdefault(f"{case.method} {case.path}", itertools.count()))
    meta = case._meta  # schemathesis has no public flag; a negative case keeps its invalid ids
    positive = meta is None or not meta.generation.mode.is_negative
    if turn % 2 and positive and case.path_parameters:  # every other request on objects that exist
        pick = random.Random(turn)
        for name in list(case.path_parameters):
            known = api.state.fuzz_ids.get(name)
            if known:
                case.path_parameters[name] = pick.choice(known)
    return api.state.fuzz_headers[ROLES[(turn // 2) % len(ROLES)]]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case: Any, api: FastAPI) -> None:
    dispatcher.current = api
    api.state.rate_limiter.reset()  # thousands of writes by four people: the limits would answer most (429)
    # Not positive_data_acceptance: some rules are beyond what a JSON schema says (an EPCI of the
    # territory, phases in order, a text's length once its control characters are cleaned, a
    # reason for "other"); those refusals are 422 problem documents, which the checks still verify.
    case.call_and_validate(headers=headers_for(api, case), additional_checks=[problem_json_errors],
                           excluded_checks=[positive_data_acceptance])
