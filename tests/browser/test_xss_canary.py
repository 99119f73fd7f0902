"""XSS canaries in Chromium (SECURITY-NOTES D1, V1–V3; issue #9 item 9, beside
tests/security/scanners.sh): payloads that would set `window.__xss` if they ever ran are put into
every field people control — proposal titles and bodies, comments (one typed into the page's htmx
form), display names, an official answer, an action's title, description, owner and progress
update, an evaluation comment, a report — and into the search box; then every page that shows them
is loaded as the person who sees it (visitor, author, moderator of the axis, admin), every element
is hovered, focused and its `mouseover`/`focus`/`toggle` fired, and:

- `window.__xss` stays undefined;
- no Content-Security-Policy violation was reported (an injected handler blocked by the CSP still
  means the escaping failed);
- no element carries an event-handler attribute or a `<script>` naming the canary, and no link or
  form goes to a `javascript:` or `data:text/html` URL.

The `page` fixture also fails on any console error or script error."""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.actions import evaluations
from app.actions import service as actions
from app.actions.schemas import AcceptedAction, UpdateDraft
from app.core.clock import utcnow
from app.core.db import make_engine
from app.moderation import service as moderation
from app.moderation.models import ReportReason
from app.proposals import service as proposals
from app.proposals.schemas import CommentDraft, ProposalDraft
from app.territory.models import Axis
from tests.browser.conftest import Resident
from tests.browser.test_accounts import sign_in
from tests.factories import make_consultation

pytestmark = pytest.mark.browser

CANARY = "window.__xss=1"
PAYLOADS = (
    f'<img src=x onerror="{CANARY}">',
    f"<svg onload={CANARY}>",
    f"[lien piégé](javascript:{CANARY})",
    f'"><script>{CANARY}</script>',
    f'<a href="javascript:{CANARY}">lien</a>',
    f"' onmouseover='{CANARY}' x='",
    f"<details open ontoggle={CANARY}><summary>s</summary></details>",
    f'<button hx-on:click="{CANARY}" hx-get="/">htmx</button>',
    f"<iframe srcdoc='<script>parent.{CANARY}</script>'></iframe>",
    f"[data](data:text/html,<script>{CANARY}</script>) {{{{7*7}}}}",
)
BODY = "Une proposition piégée.\n\n" + "\n\n".join(PAYLOADS)
TITLE = f'Banc "><svg onload={CANARY}> <img src=x onerror={CANARY}>'  # ≤ 150 characters
NAME = f'"><img src=x onerror={CANARY}>'  # ≤ 80 characters: a display name
SEARCH = f'"><svg onload={CANARY}>'

# Run in every page before its own scripts: CSP violations are collected, the canary is watched.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));
"""
# Fire what a person's pointer and keyboard would, on every element of the page.
POKE = """
() => {
  for (const el of document.querySelectorAll('body *')) {
    for (const type of ['mouseover', 'mouseenter', 'focus', 'toggle']) {
      el.dispatchEvent(new Event(type, {bubbles: type === 'mouseover'}));
    }
    if (el.tagName === 'DETAILS') { el.open = !el.open; }
  }
}
"""
# What would have run, or could run on a click: the DOM's own account of the page.
INJECTED = r"""
() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const value = attr.value.toLowerCase();
      if ((attr.name.startsWith('on') || attr.name.startsWith('hx-on')) && value.includes('__xss')) {
        found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
      const url = value.replace(/[\s\u0000-\u001f]/g, '');  // as a browser reads a URL
      if ((['href', 'src', 'action', 'formaction', 'data', 'xlink:href'].includes(attr.name)
           && (url.startsWith('javascript:') || url.startsWith('data:text/html')))
          || (attr.name === 'srcdoc' && value.includes('__xss'))) {
        found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
    }
    if (el.tagName === 'SCRIPT' && el.textContent.includes('__xss')) { found.push('SCRIPT ' + el.textContent); }
  }
  return found;
}
"""


@dataclass(frozen=True)
class Hostile:
    """What the canaries were put into, on the live server."""

    author: Resident
    moderator: Resident
    admin: Resident
    consultation: str
    proposal: int
    followed_up: str
    action: int


@pytest.fixture(scope="module")
def hostile(create_resident, live_database_url: str) -> Hostile:
    """Hostile content made through the domains' services (as the forms and the API do), by people
    whose display names are payloads too."""
    author = create_resident(name=NAME)
    commenter = create_resident(name=f"<svg onload={CANARY}>")
    moderator = create_resident(name=f"Modé '\"><script>{CANARY}</script>"[:80])
    admin = create_resident(name=f"Admin <img src=x onerror={CANARY}>")
    engine = make_engine(live_database_url)
    try:
        with Session(engine) as session:
            def principal(resident: Resident):
                user = accounts.find_by_email(session, resident.email)
                assert user is not None
                return user, accounts.load_principal(session, user)

            now = utcnow()
            _, author_p = principal(author)
            _, commenter_p = principal(commenter)
            moderator_user, _ = principal(moderator)
            admin_user, _ = principal(admin)
            axis = session.exec(select(Axis).where(Axis.number == 1)).one()
            accounts.grant_role(session, moderator_user, Role.moderator, now=now, axis_id=axis.id)
            accounts.grant_role(session, admin_user, Role.admin, now=now)
            session.flush()
            _, admin_p = principal(admin)

            # A consultation taking proposals: a proposal, a comment on it, a report of the comment.
            open_one = make_consultation(session, phase="proposals", now=now)
            proposal = proposals.submit(session, author_p, open_one, ProposalDraft(title=TITLE, body=BODY), now=now)
            comment = proposals.add_comment(session, commenter_p, proposal, CommentDraft(body=BODY), now=now)
            moderation.report(session, commenter_p, target_type="comment", target_id=comment.id or 0,
                              reason=ReportReason.other, text=BODY, now=now, threshold=100)
            moderation.report(session, author_p, target_type="proposal", target_id=proposal.id or 0,
                              reason=ReportReason.offensive, text=NAME, now=now, threshold=100)

            # A consultation in its follow-up phase: an accepted proposal, its action, an update, a rating.
            later = make_consultation(session, phase="follow_up", now=now)
            accepted = proposals.submit(session, author_p, later, ProposalDraft(title=TITLE, body=BODY),
                                        now=later.proposals_starts_at + timedelta(hours=1))
            answered_at = later.results_starts_at + timedelta(hours=1)
            actions.answer(session, admin_p, accepted, state="accepted", text=BODY, now=answered_at,
                           action=AcceptedAction(title=TITLE, description=BODY, owner=NAME))
            action = actions.actions_of_proposal(session, accepted)[0]
            actions.add_update(session, admin_p, action,
                               UpdateDraft(occurred_on=answered_at.date(), body=BODY, status="in_progress",
                                           progress=40), now=answered_at + timedelta(hours=1))
            evaluations.evaluate(session, author_p, action, rating=2, comment=BODY[:1000], now=now)
            session.commit()
            return Hostile(author, moderator, admin, open_one.slug, proposal.id or 0, later.slug, action.id or 0)
    finally:
        engine.dispose()


def assert_inert(page: Page, where: str) -> None:
    page.wait_for_load_state("load")
    page.evaluate(POKE)
    page.wait_for_timeout(100)  # handlers, image errors and toggles have run by now
    assert page.evaluate("typeof window.__xss") == "undefined", f"{where}: a canary ran"
    assert page.evaluate("window.__csp || []") == [], f"{where}: CSP violations (something was injected)"
    assert page.evaluate(INJECTED) == [], f"{where}: injected markup in the DOM"


def visit(page: Page, path: str, *, shows: str | None = "__xss") -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path}: {response.status}"
    if shows:  # the payload is on the page, as text
        assert shows in page.content(), f"{path} does not show the hostile content"
    assert_inert(page, path)


@pytest.fixture
def watched(page: Page) -> Page:
    page.add_init_script(WATCH)
    return page


def test_visitor_pages_stay_inert(watched: Page, hostile: Hostile) -> None:
    page = watched
    visit(page, f"/consultations/{hostile.consultation}")
    visit(page, f"/propositions/{hostile.proposal}")
    visit(page, f"/actions/{hostile.action}")
    visit(page, f"/consultations/{hostile.followed_up}")
    visit(page, "/actions", shows=None)
    visit(page, "/?q=" + SEARCH, shows=None)


def test_search_results_stay_inert(watched: Page, hostile: Hostile) -> None:
    page = watched
    # The search box of the consultation, its reflected query and the proposal it finds.
    page.goto(f"/consultations/{hostile.consultation}")
    search = page.get_by_role("searchbox").first
    search.fill(SEARCH)
    search.press("Enter")
    page.wait_for_load_state("load")
    assert_inert(page, "search with a hostile query")
    visit(page, f"/consultations/{hostile.consultation}?q=Banc")


def test_author_pages_and_htmx_comment_stay_inert(watched: Page, hostile: Hostile) -> None:
    page = watched
    sign_in(page, hostile.author, next_path=f"/propositions/{hostile.proposal}")
    expect(page).to_have_url(re.compile(rf"/propositions/{hostile.proposal}$"))
    # A comment typed into the page's form, sent by htmx, inserted into the thread as a fragment.
    body = page.get_by_label("Votre commentaire").first
    body.fill("Ma réponse : " + " ".join(PAYLOADS[:5]))
    page.get_by_role("button", name="Publier le commentaire").click()
    expect(page.locator("#comments-list")).to_contain_text("Ma réponse")
    assert_inert(page, "the comment thread after the htmx insertion")
    visit(page, f"/propositions/{hostile.proposal}")
    visit(page, "/notifications")
    visit(page, f"/actions/{hostile.action}")
    visit(page, "/compte", shows=None)


def test_moderator_queue_stays_inert(watched: Page, hostile: Hostile) -> None:
    page = watched
    sign_in(page, hostile.moderator, next_path="/gestion/moderation")
    visit(page, "/gestion/moderation")
    visit(page, "/gestion/moderation?onglet=masques", shows=None)
    visit(page, f"/propositions/{hostile.proposal}")


def test_admin_pages_stay_inert(watched: Page, hostile: Hostile) -> None:
    page = watched
    sign_in(page, hostile.admin, next_path="/gestion/journal")
    visit(page, "/gestion/journal")
    visit(page, "/gestion", shows=None)
    visit(page, f"/gestion/propositions/{hostile.proposal}/reponse")
    visit(page, f"/actions/{hostile.action}")


def test_the_checks_catch_an_injection(browser, live_server: str) -> None:
    """A green run means something: on a page of the live server (its CSP in force), markup slipped
    into the document is caught by the CSP report and the DOM check; without a CSP (about:blank),
    the canary itself fires."""
    context = browser.new_context(base_url=live_server)
    try:
        page = context.new_page()
        page.add_init_script(WATCH)
        page.goto("/")
        page.evaluate(f"""document.body.insertAdjacentHTML('beforeend', '<img src=x onerror="{CANARY}">')""")
        with pytest.raises(AssertionError, match="CSP violations"):
            assert_inert(page, "/ with markup slipped in")
        assert page.evaluate(INJECTED) != []

        blank = context.new_page()
        blank.set_content(f'<p>texte</p><img src=x onerror="{CANARY}">')
        with pytest.raises(AssertionError, match="a canary ran"):
            assert_inert(blank, "about:blank")
    finally:
        context.close()
