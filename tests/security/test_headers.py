"""Security headers on every page (SECURITY-NOTES G2): every GET route of the application (taken
from the router, so a new page cannot escape), as a visitor and signed in, answers with a
Content-Security-Policy that allows no inline script, nosniff, a Referrer-Policy, no framing, and
HSTS exactly when the site is served over https. The HTML itself holds no inline script, no event
handler attribute and no inline style (the policy would block them: the page would be broken)."""

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions.models import PublicAction
from app.core.settings import Settings
from app.main import create_app
from app.notifications.policy import unsubscribe_token
from app.proposals.models import Comment
from app.territory.models import Axis
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import sign_in
from tests.support import use_session

# GET routes not tried, and why (the test fails if one of them disappears, or a new one appears
# without parameters it can fill).
SKIPPED = {
    "/auth/{name}/login": "needs a configured OpenID provider (tests/accounts/test_oidc.py)",
    "/auth/{name}/callback": "needs a configured OpenID provider (tests/accounts/test_oidc.py)",
    "/auth/{name}/logged-out": "needs a configured OpenID provider (tests/accounts/test_oidc.py)",
}
# GET routes that answer something else than an HTML page (their headers are checked all the same).
NOT_HTML = {
    "/theme.css", "/healthz", "/openapi.json", "/compte/donnees.json", "/gestion/journal.csv",
    "/evaluation/donnees.csv", "/evaluation/representativite.csv", "/gestion/exports/{consultation_id}/fichier",
    "/langue/{locale}",
}
STATIC = ("/static/js/carreau.js", "/static/css/carreau.css", "/static/vendor/htmx-4.0.1.min.js")


def get_routes(app: FastAPI) -> list[str]:
    """Every path the application answers GET on, but the JSON API (its answers are not pages)."""
    return sorted({
        context.path for context in iter_route_contexts(app.routes)
        if context.path and "GET" in (context.methods or ()) and not context.path.startswith("/api/v1/")
    })


@pytest.fixture
def data(session: Session, settings: Settings) -> dict[str, str]:
    """Values for every path parameter, from a seeded database: an admin who wrote a proposal and
    a comment in a consultation in its voting phase, an action, a resident."""
    admin = make_user(session, name="Administratrice")
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    consultation = make_consultation(session, phase="voting")
    proposal = make_proposal(session, consultation, admin)
    comment = Comment(proposal_id=proposal.id or 0, author_id=admin.id or 0, body="Un commentaire.",
                      body_html="<p>Un commentaire.</p>", created_at=NOW, updated_at=NOW)
    action = PublicAction(consultation_id=consultation.id or 0, title="Une action", owner="La commune",
                          created_by_id=admin.id, created_at=NOW, updated_at=NOW)
    session.add_all([comment, action])
    resident = make_user(session, name="Habitant guichet")
    session.flush()
    axis = session.exec(select(Axis).where(Axis.id == consultation.axis_id)).one()
    return {
        "admin": str(admin.id), "consultation_id": str(consultation.id), "proposal_id": str(proposal.id),
        "comment_id": str(comment.id), "action_id": str(action.id), "user_id": str(resident.id),
        "consultation_slug": consultation.slug, "axis_slug": axis.slug, "page": "axes", "locale": "fr",
        "token": unsubscribe_token(settings.secret_key, admin.id or 0),
    }


def fill(path: str, data: dict[str, str]) -> str:
    slug = data["axis_slug"] if path.startswith("/axes/") else data["consultation_slug"]
    values = {**data, "slug": slug}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {path}: add one to `data` or to SKIPPED"
    return path


class InlineCode(HTMLParser):
    """What a CSP without 'unsafe-inline' blocks: inline <script> and <style>, on*= handlers,
    style= attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            kind = (names.get("type") or "").lower()
            if "src" not in names and kind not in ("application/json", "application/ld+json"):
                self.found.append("inline <script>")
        if tag == "style":
            self.found.append("inline <style>")
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on") or name.startswith("data-hx-on"):
                self.found.append(f"<{tag} {name}=…>")
            if name == "style":
                self.found.append(f"<{tag} style=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…>")


def check_headers(response, *, https: bool) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    csp = response.headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        problems.append("no script-src")
    elif any(source in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:") for source in scripts):
        problems.append(f"script-src allows {scripts}")
    if "'unsafe-inline'" in directives.get("style-src", []):
        problems.append("style-src allows 'unsafe-inline'")
    if directives.get("object-src") != ["'none'"]:
        problems.append("object-src is not 'none'")
    if directives.get("frame-ancestors") != ["'none'"] and response.headers.get("x-frame-options") != "DENY":
        problems.append("framing allowed")
    if response.headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("referrer-policy") not in ("same-origin", "strict-origin-when-cross-origin",
                                                        "no-referrer", "strict-origin"):
        problems.append(f"Referrer-Policy {response.headers.get('referrer-policy')!r}")
    hsts = response.headers.get("strict-transport-security")
    if https and (not hsts or int(hsts.split("max-age=")[1].split(";")[0]) < 15552000):
        problems.append(f"HSTS {hsts!r} over https")
    if not https and hsts:
        problems.append("HSTS over http")
    if response.headers.get("content-type", "").startswith("text/") and "charset" not in response.headers[
            "content-type"]:
        problems.append("no charset")
    return problems


def survey(client: TestClient, data: dict[str, str], *, https: bool,
           headers: dict[str, str] | None = None) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Every GET route and a few static files: the problems found, and the statuses."""
    problems: dict[str, list[str]] = {}
    statuses: dict[str, int] = {}
    paths = [fill(path, data) for path in get_routes(client.app) if path not in SKIPPED]  # type: ignore[arg-type]
    for path in [*paths, *STATIC, "/nulle-part", "/propositions/999999999"]:
        response = client.get(path, headers=headers, follow_redirects=False)
        statuses[path] = response.status_code
        found = check_headers(response, https=https)
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if response.headers.get("content-type", "").startswith("text/html"):
            parser = InlineCode()
            parser.feed(response.text)
            found += parser.found
        if found:
            problems[path] = found
    return problems, statuses


@pytest.fixture
def https_app(settings: Settings, session: Session) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"base_url": "https://participer.example.fr"}))
    use_session(app, session)
    yield app
    app.state.engine.dispose()


def test_every_route_is_tried_or_skipped_for_a_reason(app: FastAPI) -> None:
    paths = get_routes(app)
    assert set(SKIPPED) <= set(paths), "a skipped route is gone: take it out of SKIPPED"
    assert NOT_HTML - {"/openapi.json"} <= set(paths)
    assert len(paths) > 60


def test_headers_for_visitors(client: TestClient, data: dict[str, str]) -> None:
    problems, statuses = survey(client, data, https=False)
    assert problems == {}
    assert statuses["/"] == 200
    assert statuses[f"/consultations/{data['consultation_slug']}"] == 200


def test_headers_signed_in(app: FastAPI, client: TestClient, session: Session, data: dict[str, str]) -> None:
    admin = session.get(User, int(data["admin"]))
    assert admin is not None
    sign_in(client, app, admin)
    problems, statuses = survey(client, data, https=False)
    assert problems == {}
    # Signed in as an admin, the pages render (they are what is checked, not a redirect).
    pages = [path for path, status in statuses.items() if status == 200]
    assert len(pages) > 50, statuses
    assert statuses["/gestion"] == 200
    assert statuses["/compte"] == 200
    # The fragments htmx asks for (same routes, HX-Request header) hold no inline code either.
    problems, _statuses = survey(client, data, https=False, headers={"HX-Request": "true"})
    assert problems == {}


def test_headers_over_https(https_app: FastAPI, session: Session, data: dict[str, str]) -> None:
    admin = session.get(User, int(data["admin"]))
    assert admin is not None
    with TestClient(https_app, base_url="https://participer.example.fr") as client:
        problems, _statuses = survey(client, data, https=True)
        assert problems == {}
        assert "includeSubDomains" in client.get("/").headers["strict-transport-security"]


def test_signed_in_pages_are_not_cached(app: FastAPI, client: TestClient, session: Session,
                                        data: dict[str, str]) -> None:
    admin = session.get(User, int(data["admin"]))
    assert admin is not None
    sign_in(client, app, admin)
    for path in ("/", "/compte", "/gestion", f"/propositions/{data['proposal_id']}", "/compte/donnees.json"):
        assert client.get(path).headers.get("cache-control") == "no-store", path


def test_answers_to_a_token_are_not_cached(client: TestClient, session: Session, data: dict[str, str]) -> None:
    admin = session.get(User, int(data["admin"]))
    assert admin is not None
    authorization = bearer(session, admin)
    for path in ("/api/v1/me", "/api/v1/me/export", f"/api/v1/proposals/{data['proposal_id']}",
                 f"/api/v1/consultations/{data['consultation_id']}/export"):
        response = client.get(path, headers=authorization)
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("cache-control", ""), path


def test_errors_carry_the_headers_too(client: TestClient) -> None:
    for response in (client.get("/nulle-part"), client.post("/connexion", data={}),
                     client.request("PATCH", "/"), client.get("/api/v1/proposals/0")):
        assert check_headers(response, https=False) == [], response.status_code

