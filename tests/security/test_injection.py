"""The injection corpus (tests/security/corpus.py) against every text the platform accepts
(SECURITY-NOTES D1 XSS corpus, D2 sanitiser bypass, D3 htmx surface, D4 SQL metacharacters, D6 no
5xx on hostile input, D7 header injection, E1 formula injection).

1. The sweep: every route of the router (pages, htmx fragments, API) that takes a text — a form
   field, a JSON field or a query parameter, found from the route's own parameters so that a new
   one cannot escape — gets each payload of a representative sample (corpus.SAMPLE: one or two
   per family, NUL and a 100 000-character string among them) in one field at a time, the others
   valid; as an admin, so the request reaches the service. Never a 500.
2. Stored then shown: the texts a person writes (proposal title and body, comment, report, display
   name, official answer, action title/description/owner, progress update, rating comment,
   moderation and block reasons, consultation texts, assisted registration names) are written
   with every payload of corpus.SHOWN, through the pages and through the API; then every page,
   htmx fragment and API answer that shows them is parsed: no element or attribute came from a
   payload (no inline `<script>`, no `on…=`, no `hx-*` beyond the page's own, no `javascript:`
   nor `data:` link), and the text is there, escaped.
3. Mail: the notifications those texts trigger, sent through a real SMTP server: no header came
   from a payload, the HTML part is as clean as a page.
4. Exports: CSV cells starting with = + - @ tab CR neutralised, XLSX cells strings, JSON as written.

The product fields × payloads is kept reasonable: the sweep uses corpus.SAMPLE (15 payloads) and
the stored part writes all of corpus.SHOWN at once, one payload per object (each object is
checked on every surface), so each payload meets each surface at least once. About 1 to 1.5
minutes per database on a laptop core, most of it the sweep (83 routes, 286 texts, ≈ 2,200 requests).

Defects this suite found, fixed in the code: a NUL character gave a 500 on PostgreSQL (refused
app-wide by app.core.textinput.refuse_nul); a moderation reason was rendered as raw HTML, and
one holding '%' gave a 500 (the templates' `_(reason)` marked it safe; now `|translated`)."""

import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.params import Form
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.csrf import SAFE_METHODS
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import csrf, sign_in
from tests.security import corpus

# --- what a response may hold


SCHEMES = re.compile(r"^\s*(javascript|data|vbscript)\s*:", re.IGNORECASE)
LOCAL_PATH = re.compile(r"/[a-z0-9\-/]*")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}
FOREIGN_ELEMENTS = {"script", "iframe", "svg", "object", "embed", "style", "math", "base", "meta", "img"}


class Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.scripts.append(data)


def assert_inert(html: str, where: str) -> None:
    """Nothing in `html` runs or was made by a payload: scripts only from /static (CSP forbids inline
    ones), no event handler, no dangerous URL, no element a payload would bring, no htmx attribute
    carrying the payload's mark."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.tags:
        names = {name for name, _ in attrs}
        values = {name: value or "" for name, value in attrs}
        assert not any(name.startswith("on") for name in names), f"{where}: event handler on <{tag} {attrs}>"
        for name in URL_ATTRIBUTES & names:
            assert not SCHEMES.match(values[name]), f"{where}: dangerous URL in <{tag} {name}={values[name]!r}>"
        for name, value in attrs:  # a payload's mark in an htmx attribute: only inside a slug of a local path
            if name.startswith(("hx-", "data-hx")) and corpus.MARK in (value or ""):
                assert not name.startswith(("hx-on", "data-hx-on")), f"{where}: <{tag} {name}={value!r}>"
                assert LOCAL_PATH.fullmatch(value or ""), f"{where}: htmx attribute <{tag} {name}={value!r}>"
        assert not any(corpus.MARK in name for name in names), f"{where}: attribute made by a payload {attrs}"
        if tag == "script":
            assert values.get("src", "").startswith("/static/"), f"{where}: <script {attrs}>"
        if tag in FOREIGN_ELEMENTS - {"script", "meta", "style"}:
            assert corpus.MARK not in repr(attrs), f"{where}: <{tag} {attrs}> from a payload"
    assert not parser.scripts, f"{where}: inline script {parser.scripts[:1]}"
    assert f"__xss_{corpus.MARK}=1</script" not in html, where


def assert_clean_json(text: str, where: str) -> None:
    """An API answer: JSON (the escaping is the reader's, text stays text), and its rendered HTML
    fields (body_html…) inert."""
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and key.endswith("_html"):
                    assert_inert(item, f"{where} {key}")
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(json.loads(text))


def assert_answer(response: Any, where: str) -> None:
    """Never a 500; whatever came back is inert."""
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    kind = response.headers.get("content-type", "")
    if "html" in kind:
        assert_inert(response.text, where)
    elif "json" in kind:
        assert_clean_json(response.text, where)
    for name, value in response.headers.items():
        assert "\r" not in value, f"{where}: header {name}"
        assert "\n" not in value, f"{where}: header {name}"
        assert corpus.MARK not in name, f"{where}: header {name}"


# --- the platform, with one of everything


@pytest.fixture
def world(app: FastAPI, session: Session) -> Iterator[dict[str, Any]]:
    """An admin signed in (cookie and bearer), a consultation taking proposals and one in its
    follow-up with a proposal accepted into an action, a comment, a resident and their rating."""
    app.state.rate_limiter.hit = lambda *args, **kwargs: None  # hundreds of writes by one person
    app.state.clock = lambda: NOW  # the phases of the factories' consultations
    admin = make_user(session, name="Admine Générale")
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    resident = make_user(session, name="Résidente Témoin")
    open_ = make_consultation(session, phase="proposals")
    follow = make_consultation(session, phase="follow_up", axis_number=1)
    proposal = make_proposal(session, open_, resident)
    accepted = make_proposal(session, follow, resident)
    session.commit()
    with TestClient(app) as client:
        sign_in(client, app, admin)
        token = csrf(client)
        api = bearer(session, admin)
        session.commit()
        answer = client.post(f"/api/v1/proposals/{accepted.id}/answer", headers=api, json={
            "state": "accepted", "answer": "Nous retenons cette proposition.",
            "action": {"title": "Une action témoin"}})
        assert answer.status_code < 300, answer.text
        action_id = client.get("/api/v1/actions", params={"consultation": follow.id}, headers=api).json()
        action_id = (action_id["items"] if isinstance(action_id, dict) else action_id)[0]["id"]
        comment = client.post(f"/api/v1/proposals/{proposal.id}/comments", headers=api,
                              json={"body": "Un commentaire témoin."})
        assert comment.status_code < 300, comment.text
        yield {
            "client": client, "csrf": token, "api": api, "admin": admin, "resident": resident,
            "consultation": open_, "follow": follow, "proposal": proposal, "accepted": accepted,
            "action_id": action_id, "comment_id": comment.json()["id"],
        }


def path_values(world: dict[str, Any]) -> dict[str, str]:
    return {
        "slug": world["consultation"].slug, "consultation_id": str(world["consultation"].id),
        "proposal_id": str(world["proposal"].id), "comment_id": str(world["comment_id"]),
        "user_id": str(world["resident"].id), "action_id": str(world["action_id"]), "path_type": "propositions",
        "target_type": "proposal", "target_id": str(world["proposal"].id), "locale": "fr", "name": "franceconnect",
        "page": "tableau-de-bord", "evaluation_id": "1", "notification_id": "1", "token_id": "1", "token": "x",
    }


# Valid values for the fields that are not under attack, by name.
VALID = {
    "title": "Un titre tout à fait convenable", "body": "Un texte tout à fait convenable pour les essais.",
    "summary": "Un résumé tout à fait convenable.", "answer": "Une réponse tout à fait convenable.",
    "reason": "other", "text": "Un texte convenable", "comment": "Un avis convenable",
    "display_name": "Camille Essai", "given_name": "Camille", "family_name": "Essai", "commune": "62510",
    "email": "essai@example.fr", "password": "une phrase de passe assez longue", "owner": "Service essais",
    "description": "Une description convenable.", "birth_year": "1980", "rating": "4", "state": "evaluating",
    "status": "in_progress", "progress": "40", "occurred_on": "2027-03-01", "until": "2027-03-20T00:00:00+00:00",
    "target_type": "proposal", "axis": "1", "scope_kind": "basin", "voting_method": "support",
    "max_supports": "0", "required_verification": "declared", "terms_accepted": "on", "accept_terms": "on",
}


def _fields(route: Any) -> tuple[str, dict[str, Any]]:
    """How the route takes its texts ("form", "json" or "query") and its fields: name → annotation."""
    dependant = route.dependant
    bodies, queries = [], []
    stack = [dependant]
    while stack:
        current = stack.pop()
        bodies += current.body_params
        queries += current.query_params
        stack += current.dependencies
    if bodies:
        fields: dict[str, Any] = {}
        kind = "json"
        for param in bodies:
            annotation = param.field_info.annotation
            if isinstance(param.field_info, Form):
                kind = "form"
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                fields.update({name: info.annotation for name, info in annotation.model_fields.items()})
            else:
                fields[param.name] = annotation
        if kind == "json" and len(bodies) == 1 and not (
                isinstance(bodies[0].field_info.annotation, type)
                and issubclass(bodies[0].field_info.annotation, BaseModel)):
            kind = "form"
        return kind, fields
    return "query", {param.name: param.field_info.annotation for param in queries}


def _is_text(annotation: Any) -> bool:
    return annotation is str or ("str" in repr(annotation) and "Literal" not in repr(annotation))


# Routes the sweep leaves alone: they end the admin's session, which the sweep needs.
SESSION_ENDERS = {"/deconnexion", "/compte/supprimer", "/api/v1/me", "/compte/sessions/fermer",
                  "/compte/mot-de-passe", "/connexion", "/langue/{locale}"}


def text_routes(app: FastAPI) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not context.path or not hasattr(route, "dependant") or context.path in SESSION_ENDERS:
            continue
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            kind, fields = _fields(route)
            texts = {name: annotation for name, annotation in fields.items() if _is_text(annotation)}
            if texts:
                found.append((method, context.path, kind, fields))
    return found


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda match: values.get(match.group(1), "1"), path)


def send(world: dict[str, Any], method: str, url: str, kind: str, data: dict[str, Any],
         *, htmx: bool = False) -> Any:
    client: TestClient = world["client"]
    if url.startswith("/api/"):
        if kind == "query" or method in SAFE_METHODS:
            return client.request(method, url, params=data, headers=world["api"])
        return client.request(method, url, json=data, headers=world["api"])
    if kind == "query" or method in SAFE_METHODS:
        return client.request(method, url, params=data, follow_redirects=False,
                              headers={"HX-Request": "true"} if htmx else None)
    headers = {"HX-Request": "true", "X-CSRF-Token": world["csrf"]} if htmx else None
    payload = data if htmx else {**data, "csrf_token": world["csrf"]}
    return client.request(method, url, data=payload, headers=headers, follow_redirects=False)


def valid_values(world: dict[str, Any], fields: dict[str, Any], kind: str) -> dict[str, Any]:
    """Valid values for the fields not under attack (those the table knows; the others are left
    out, as a person would leave an optional field empty); numbers as numbers in JSON."""
    known = {**VALID, "consultation_id": str(world["follow"].id), "consultation": str(world["follow"].id),
             "target_id": str(world["proposal"].id), "proposal": str(world["proposal"].id)}
    data: dict[str, Any] = {}
    for name, annotation in fields.items():
        if name not in known:
            continue
        value: Any = known[name]
        if kind == "json" and not _is_text(annotation):
            if "bool" in repr(annotation):
                value = True
            elif "datetime" in repr(annotation) or "date" in repr(annotation):
                pass
            elif value.isdigit():
                value = int(value)
        data[name] = value
    return data


def test_every_text_of_every_route_takes_the_corpus_without_a_500(app: FastAPI, world: dict[str, Any]) -> None:
    routes = text_routes(app)
    assert len(routes) > 60, routes
    values = path_values(world)
    accepted: dict[str, set[int]] = {}  # the routes where the valid fields did reach the service
    for method, path, kind, fields in routes:
        url = fill(path, values)
        texts = [name for name, annotation in fields.items() if _is_text(annotation)]
        for target in texts:
            for payload_name, payload in corpus.SAMPLE.items():
                data = valid_values(world, fields, kind)
                if kind == "query" or method in SAFE_METHODS:
                    payload = payload[:4000] + corpus.MARK  # a URL stays under the client's 64 kB
                data[target] = payload
                page = not path.startswith("/api/")
                for htmx in ((False, True) if page and payload_name == "svg-onload" else (False,)):
                    response = send(world, method, url, kind, data, htmx=htmx)
                    assert_answer(response, f"{method} {path} {target}={payload_name} htmx={htmx}")
                    if response.status_code < 400:
                        accepted.setdefault(f"{method} {path}", set()).add(response.status_code)
    # The sweep reaches the services: many routes took some payload (stored, matched or shown);
    # the others refuse it rightly (allow-listed parameters: sort, phase, axis, format, dates…;
    # a second report of the same content; a proposal of someone else…).
    assert len(accepted) >= 40, sorted(accepted)


# --- stored, then shown everywhere


def _title(payload: str) -> str:
    return f"Titre {payload}"[:150].strip().ljust(12, ".")


def write_everything(world: dict[str, Any]) -> dict[str, int]:
    """Every payload of corpus.SHOWN, through the API and the pages, into the texts people write:
    one proposal per payload (title and body, API), its comment (page form), a report (API), the
    action's title, description and owner (API) and a progress update (page form), and the
    admin's display name (page form). Returns proposal id → payload index."""
    client: TestClient = world["client"]
    api, token = world["api"], world["csrf"]
    consultation, action_id = world["consultation"], world["action_id"]
    proposals = {}
    for index, payload in enumerate(corpus.SHOWN.values()):
        created = client.post(f"/api/v1/consultations/{consultation.id}/proposals", headers=api,
                              json={"title": _title(payload), "body": f"Corps du texte : {payload}"})
        assert created.status_code == 201, created.text
        proposal_id = created.json()["id"]
        proposals[proposal_id] = index
        comment = client.post(f"/propositions/{proposal_id}/commentaires", follow_redirects=False,
                              data={"body": f"Commentaire {payload}", "csrf_token": token})
        assert comment.status_code in (200, 303), comment.text[:300]
        report = client.post("/api/v1/reports", headers=api, json={
            "target_type": "proposal", "target_id": proposal_id, "reason": "other", "text": payload[:1000]})
        assert report.status_code < 500, report.text
    for payload in (corpus.MARKUP["svg-onload"], corpus.MARKDOWN["md-js-link"], corpus.MARKUP["htmx"]):
        edited = client.patch(f"/api/v1/actions/{action_id}", headers=api, json={
            "title": _title(payload)[:200], "description": f"Description {payload}", "owner": payload[:200]})
        assert edited.status_code < 300, edited.text
    update = client.post(f"/gestion/actions/{action_id}/avancement", follow_redirects=False, data={
        "occurred_on": "2027-03-01", "body": f"Avancement {corpus.MARKDOWN['md-reference']}",
        "status": "in_progress", "progress": "50", "csrf_token": token})
    assert update.status_code in (200, 303), update.text[:300]
    renamed = client.post("/compte/profil", follow_redirects=False, data={
        "display_name": corpus.MARKUP["attr-single"][:80], "commune": "62510", "birth_year": "1980",
        "csrf_token": token})
    assert renamed.status_code in (200, 303), renamed.text[:300]
    return proposals


def test_stored_texts_are_shown_inert_on_every_surface(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    proposals = write_everything(world)
    consultation, action_id, api = world["consultation"], world["action_id"], world["api"]
    pages = [
        f"/consultations/{consultation.slug}", f"/consultations/{consultation.slug}?page=2",
        f"/consultations/{consultation.slug}?q={corpus.MARK}", f"/actions/{action_id}", "/actions",
        "/gestion/moderation", "/gestion/moderation?onglet=signalements", "/gestion/journal", "/notifications",
        "/compte", "/",
    ]
    pages += [f"/propositions/{proposal_id}" for proposal_id in proposals]
    shown = ""
    for page in pages:
        for htmx in (False, True):
            response = client.get(page, headers={"HX-Request": "true"} if htmx else None)
            assert_answer(response, f"GET {page} htmx={htmx}")
            shown += response.text
    for url in [f"/api/v1/consultations/{consultation.id}/proposals", f"/api/v1/actions/{action_id}",
                "/api/v1/moderation/queue", "/api/v1/audit", "/api/v1/me"] + [
                    f"/api/v1/proposals/{proposal_id}" for proposal_id in proposals]:
        assert_answer(client.get(url, headers=api), f"GET {url}")
    # Stored as written, shown escaped: the marks are on the pages, as text.
    assert shown.count(corpus.MARK) >= len(proposals)
    assert "&lt;script&gt;" in shown


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods", "json"])
def test_exports_neutralise_formulas_and_keep_text(world: dict[str, Any], fmt: str) -> None:
    client: TestClient = world["client"]
    write_everything(world)
    response = client.get(f"/api/v1/consultations/{world['consultation'].id}/export",
                          params={"format": fmt, "what": "proposals"}, headers=world["api"])
    assert response.status_code == 200, response.text[:300]
    cells: list[str] = []
    if fmt == "csv":
        import csv

        cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.content))
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"formula in {sheet.title}!{cell.coordinate}: {cell.value!r}"
                    if isinstance(cell.value, str):
                        cells.append(cell.value)
    elif fmt == "ods":
        import zipfile

        content = zipfile.ZipFile(io.BytesIO(response.content)).read("content.xml").decode()
        assert "table:formula" not in content
        assert "<script" not in content
        assert corpus.MARK in content
        return
    else:
        text = response.content.decode()
        for payload in corpus.FORMULAS.values():
            written = "".join(ch for ch in _title(payload) if ch in "\n\t" or ch >= " ")  # as the form stores it
            assert json.dumps(written, ensure_ascii=False)[1:-1] in text or json.dumps(written)[1:-1] in text
        return
    titles = [cell for cell in cells if corpus.MARK in cell]
    assert titles
    if fmt == "csv":
        for cell in titles:
            assert cell.lstrip(" \n\"'")[:1] not in "=+-@\t\r" or cell.startswith("'"), cell


# --- mail


def test_notification_mails_carry_payloads_inert(world: dict[str, Any], session: Session, settings: Any,
                                                 smtp_server: Any) -> None:
    """A resident's proposal titled with each header or markup payload gets an official answer
    carrying it: the mails sent have no header made by a payload and an inert HTML part."""
    from datetime import timedelta

    from app.notifications import delivery

    client: TestClient = world["client"]
    titles = {"crlf": corpus.HEADERS["crlf"], "script": corpus.MARKUP["script"],
              "attr-double": corpus.MARKUP["attr-double"], "md-js-link": corpus.MARKDOWN["md-js-link"]}
    for payload in titles.values():
        proposal = make_proposal(session, world["consultation"], world["resident"], title=_title(payload))
        session.commit()
        answered = client.post(f"/api/v1/proposals/{proposal.id}/answer", headers=world["api"], json={
            "state": "rejected", "answer": f"Réponse {payload}"})
        assert answered.status_code < 300, answered.text
    mail_settings = settings.model_copy(update={**smtp_server.settings, "base_url": "https://carreau.example.fr"})
    report = delivery.send_emails(session, mail_settings, now=NOW + timedelta(hours=2))
    assert report.failures == []
    assert smtp_server.messages
    for message in smtp_server.messages:
        assert "X-Injected" not in message, message["Subject"]
        assert message.get_all("Bcc") is None, message["Subject"]
        for name, value in message.items():
            assert "\n" not in str(value).replace("\n ", ""), f"{name}: {value!r}"
        for part in message.walk():
            if part.get_content_type() == "text/html":
                assert_inert(part.get_content(), f"mail {message['Subject']!r}")


def test_back_office_and_moderation_texts_are_shown_inert(app: FastAPI, world: dict[str, Any],
                                                         session: Session) -> None:
    """Consultation texts, official answers, moderation and block reasons, assisted registration
    names and residents' rating comments, each payload of corpus.SHOWN in turn, then every page
    and answer that shows them, for the admin and for the resident concerned."""
    from tests.factories import phase_dates

    client: TestClient = world["client"]
    api = world["api"]
    payloads = list(corpus.SHOWN.values())
    phases = {name.removesuffix("_starts_at"): {"start": moment.isoformat()}
              for name, moment in phase_dates("proposals").items()}
    pages: list[str] = []
    api_urls: list[str] = []
    resident_api = bearer(session, world["resident"])
    session.commit()
    for index, payload in enumerate(payloads):
        created = client.post("/api/v1/consultations", headers=api, json={
            "title": f"Consultation {payload}"[:200], "summary": f"Résumé : {payload}"[:2000],
            "body": f"Corps {payload}", "easy_read_summary": payload, "easy_read_rules": payload,
            "axis": 1, "scope": {"kind": "basin"}, "phases": phases, "status": "published"})
        assert created.status_code == 201, created.text
        consultation = created.json()
        pages += [f"/consultations/{consultation['slug']}", f"/gestion/consultations/{consultation['id']}/apercu"]
        api_urls.append(f"/api/v1/consultations/{consultation['id']}")
        proposal = client.post(f"/api/v1/consultations/{consultation['id']}/proposals", headers=resident_api,
                               json={"title": _title(payload), "body": f"Corps du texte : {payload}"})
        assert proposal.status_code == 201, proposal.text
        proposal_id = proposal.json()["id"]
        answered = client.post(f"/api/v1/proposals/{proposal_id}/answer", headers=api,
                               json={"state": "evaluating", "answer": f"Réponse officielle {payload}"})
        assert answered.status_code < 300, answered.text
        comment = client.post(f"/api/v1/proposals/{proposal_id}/comments", headers=resident_api,
                              json={"body": f"Commentaire {payload}"})
        assert comment.status_code == 201, comment.text
        hidden = client.post(f"/api/v1/moderation/comment/{comment.json()['id']}/hide", headers=api,
                             json={"reason": f"Motif {payload}"[:500]})
        assert hidden.status_code < 300, hidden.text
        pages.append(f"/propositions/{proposal_id}")
        if index % 3 == 0:  # the proposal itself hidden, its reason shown to its author
            other = client.post(f"/api/v1/consultations/{consultation['id']}/proposals", headers=resident_api,
                                json={"title": _title(payload), "body": f"Autre texte : {payload}"})
            assert other.status_code == 201, other.text
            hidden = client.post(f"/api/v1/moderation/proposal/{other.json()['id']}/hide", headers=api,
                                 json={"reason": f"Motif {payload}"[:500]})
            assert hidden.status_code < 300, hidden.text
            pages.append(f"/propositions/{other.json()['id']}")
        if index % 5 == 0:
            registered = client.post("/api/v1/assisted/residents", headers=api, json={
                "display_name": f"Nom {payload}"[:80], "given_name": payload[:200], "family_name": payload[:200],
                "commune": "62510", "birth_year": 1950, "terms_accepted": True})
            assert registered.status_code == 201, registered.text
            rated = client.post(f"/api/v1/actions/{world['action_id']}/evaluation", headers=resident_api,
                                json={"rating": 1 + index % 5, "comment": f"Avis {payload}"})
            assert rated.status_code < 300, rated.text
    blocked = client.post(f"/api/v1/moderation/users/{world['resident'].id}/block", headers=api, json={
        "until": "2027-03-20T00:00:00+00:00", "reason": corpus.MARKUP["svg-onload"]})
    assert blocked.status_code < 300, blocked.text
    pages += [f"/actions/{world['action_id']}", f"/actions/{world['action_id']}?avis=2", "/gestion/consultations",
              "/gestion/moderation?onglet=masques", "/gestion/journal", f"/guichet?nom={corpus.MARK}",
              "/guichet?nom=Nom", "/axes/" + "x"]
    api_urls += ["/api/v1/consultations", "/api/v1/assisted/residents?name=Nom", "/api/v1/audit",
                 f"/api/v1/actions/{world['action_id']}"]
    for page in pages:
        for htmx in (False, True):
            assert_answer(client.get(page, headers={"HX-Request": "true"} if htmx else None), f"GET {page}")
    for url in api_urls:
        assert_answer(client.get(url, headers=api), f"GET {url}")
    # The resident sees the reasons (hidden comment, block) and their notifications.
    with TestClient(app) as theirs:
        sign_in(theirs, app, world["resident"])
        for page in [*pages[:12], "/notifications", "/compte", f"/actions/{world['action_id']}"]:
            assert_answer(theirs.get(page), f"resident GET {page}")
        for url in ["/api/v1/me", "/api/v1/notifications"]:
            assert_answer(theirs.get(url, headers=resident_api), f"resident GET {url}")
