"""What every page must pass: axe-core's WCAG 2.1 A/AA rules and a few basics axe does not check."""

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@functools.cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING_IMPACTS = ("serious", "critical")

# The first element in the keyboard order (tabindex > 0 first, then document order), or null.
FIRST_TABBABLE_JS = """() => {
  const selector = 'a[href], area[href], button, input, select, textarea, iframe, summary, '
    + '[tabindex], [contenteditable=""], [contenteditable="true"]';
  const tabbable = [...document.querySelectorAll(selector)].filter((el) => {
    if (el.tabIndex < 0 || el.disabled || el.closest('[inert]')) return false;
    if (el.matches('input[type="hidden"]')) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && el.getClientRects().length > 0;
  });
  const positive = tabbable.filter((el) => el.tabIndex > 0).sort((a, b) => a.tabIndex - b.tabIndex);
  const first = positive[0] || tabbable.find((el) => el.tabIndex === 0);
  return first ? first.outerHTML.slice(0, 200) : null;
}"""

# Where an in-page link leads: the target and whether it is, or sits in, the main landmark.
SKIP_LINK_TARGET_JS = """(html) => {
  const holder = document.createElement('template');
  holder.innerHTML = html;
  const link = holder.content.firstElementChild;
  const href = link && link.getAttribute('href');
  if (!href || !href.startsWith('#') || href.length < 2) return {href, target: null, inMain: false};
  const target = document.getElementById(decodeURIComponent(href.slice(1)));
  const inMain = !!target && !!target.closest('main, [role="main"]');
  return {href, target: target ? target.tagName.toLowerCase() : null, inMain};
}"""

# The focused element's indicator: its own outline or box-shadow, or the outline an ancestor takes
# while focus is within it (a card whose whole surface is the link's target).
FOCUS_INDICATOR_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {element: null, visible: false};
  const hasOutline = (style) => style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const style = getComputedStyle(el);
  let via = null;
  if (hasOutline(style)) via = 'outline';
  else if (style.boxShadow !== 'none') via = 'box-shadow';
  else {
    for (let parent = el.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
      if (parent.matches(':focus-within') && hasOutline(getComputedStyle(parent))) {
        via = `outline of <${parent.tagName.toLowerCase()} class="${parent.className}">`;
        break;
      }
    }
  }
  return {
    element: el.outerHTML.slice(0, 160),
    visible: via !== null,
    via,
    outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
    boxShadow: style.boxShadow,
  };
}"""


@dataclass
class PageProblems:
    """Script errors and failed requests seen while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def assert_none(self) -> None:
        problems = [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
        ]
        if problems:
            pytest.fail("The page had problems:\n  " + "\n  ".join(problems), pytrace=False)


# With JavaScript off, Chromium runs the DevTools protocol's code but no timer or queueMicrotask
# callback: axe.run, which schedules its work with setTimeout, would wait for ever. Promise jobs
# still run, so for the length of this document setTimeout becomes one.
TIMERS_AS_PROMISE_JOBS_JS = """() => {
  let next = 1;
  const cancelled = new Set();
  window.setTimeout = (callback, _delay, ...args) => {
    const id = next++;
    Promise.resolve().then(() => { if (!cancelled.has(id)) callback(...args); });
    return id;
  };
  window.clearTimeout = (id) => { cancelled.add(id); };
}"""


def run_axe(page: Page) -> list[dict]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now."""
    if page.evaluate("() => typeof window.htmx === 'undefined'"):
        page.evaluate(TIMERS_AS_PROMISE_JOBS_JS)  # a page without JavaScript (htmx runs on every other)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: a <script> tag would be refused by our own
        # Content-Security-Policy (no inline scripts), which these pages must keep enforcing.
        page.evaluate(_axe_source())
    return page.evaluate(f"async () => (await axe.run(document, {json.dumps(AXE_OPTIONS)})).violations")


def format_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        impact, rule = violation["impact"], violation["id"]
        lines.append(f"[{impact}] {rule}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            target = " ".join(part if isinstance(part, str) else json.dumps(part) for part in node["target"])
            lines.append(f"    {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


def assert_no_axe_violations(page: Page) -> None:
    violations = run_axe(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, (
        f"axe-core found {len(blocking)} serious or critical violation(s) on {page.url}:\n"
        + format_violations(blocking)
    )


def assert_page_basics(page: Page, *, lang: str = "fr", skip_link: bool = True) -> str:
    """The language, one h1, a title and the skip link; returns the title."""
    html_lang = page.evaluate("() => document.documentElement.getAttribute('lang')")
    assert html_lang, f"<html> has no lang attribute on {page.url}"
    assert html_lang.split("-")[0].lower() == lang, f"<html lang={html_lang!r}> on {page.url}, not {lang!r}"
    h1_count = page.locator("h1").count()
    assert h1_count == 1, f"{h1_count} <h1> elements on {page.url}; a page needs exactly one"
    title = page.title().strip()
    assert title, f"empty <title> on {page.url}"
    if skip_link:
        assert_skip_link_first(page)
    return title


def assert_skip_link_first(page: Page) -> None:
    first = page.evaluate(FIRST_TABBABLE_JS)
    assert first, f"nothing on {page.url} can be reached with the keyboard"
    assert first.startswith("<a"), f"the first focusable element on {page.url} is not a skip link: {first}"
    target = page.evaluate(SKIP_LINK_TARGET_JS, first)
    assert target["inMain"], (
        f"the first focusable element on {page.url} does not lead to the main content "
        f"(href={target['href']!r}, target={target['target']!r}): {first}"
    )


def check_accessibility(page: Page, *, lang: str = "fr", skip_link: bool = True) -> str:
    """axe-core plus the basics; returns the page title."""
    assert_no_axe_violations(page)
    return assert_page_basics(page, lang=lang, skip_link=skip_link)


def focus_indicator(page: Page) -> dict:
    return page.evaluate(FOCUS_INDICATOR_JS)
