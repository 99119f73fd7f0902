"""Markdown written by residents comes out as safe HTML: no scripts, event handlers, `javascript:`
or `data:` links, raw HTML, SVG or images; links are marked nofollow ugc. Checked on the string
and on the parsed HTML, for the Markdown step and for the sanitiser behind it."""

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from app.core import markdown
from app.core.markdown import ALLOWED_TAGS, render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=5/></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<a href=\"javascript:alert(1)\">clic</a>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<p onclick=\"alert(1)\">x</p>",
    "<b onmouseover=alert(1)>survol</b>",
    "<details open ontoggle=alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\"></object>",
    "<button hx-get=\"/api/v1/me\" hx-trigger=\"load\">x</button>",
    "<div hx-on:click=\"alert(1)\">x</div>",
    "[clic](javascript:alert(1))",
    "[clic](JaVaScRiPt:alert(1))",
    "[clic](java&#115;cript:alert(1))",
    "[clic](java\tscript:alert(1))",
    "[clic](&#106;avascript:alert(1))",
    "[clic](<javascript:alert(1)>)",
    "[clic](  javascript:alert(1)  )",
    "[clic](vbscript:msgbox(1))",
    "[clic](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[clic](file:///etc/passwd)",
    "[clic][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](https://tracker.example/pixel.png)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[![x](https://tracker.example/pixel.png)](https://example.org)",
    "[x](https://example.org \"\\\" onmouseover=\\\"alert(1)\")",
    "[x](https://example.org\" onclick=\"alert(1))",
    "<!-- <script>alert(1)</script> -->",
    "<style>body{display:none}</style>",
    "<base href=\"https://evil.example/\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<<script>script>alert(1)<</script>/script>",
    "\"><script>alert(1)</script>",
    "{{7*7}} {% raw %}",
]

SAFE_SCHEMES = ("http://", "https://", "mailto:", "/", "#")


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def tags_of(html: str) -> list[str]:
    """The tags of `html` with their quoted attribute values blanked out."""
    return [re.sub(r'"[^"]*"', '""', tag) for tag in re.findall(r"<[^>]*>", html)]


def assert_safe(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered
    # Hostile words may stay as visible, escaped text (or inside a quoted, escaped attribute
    # value such as a link's title); never as a tag's own attribute or link target.
    for tag in tags_of(lowered):
        assert "javascript:" not in tag, html
        assert "onerror=" not in tag, html
        assert re.search(r"\son[a-z]+\s*=", tag) is None, html
        assert "data:" not in tag, html
    for name, attrs in parsed(html):
        assert name in ALLOWED_TAGS, html
        allowed = {"href", "title", "rel"} if name == "a" else set()
        assert set(attrs) <= allowed, html
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(SAFE_SCHEMES), html
        if name == "a":
            assert {"nofollow", "ugc"} <= set((attrs.get("rel") or "").split()), html


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_neutralised(source: str) -> None:
    html = render_markdown(source)
    assert_safe(html)
    tags = "".join(tags_of(html.lower()))
    for forbidden in ("<img", "<svg", "<iframe", "<style", "<object", "<form", "<input", "<button", "<div",
                      "<base", "<meta", "<link", "<video", "<math", "<details", "hx-", "style="):
        assert forbidden not in tags, (forbidden, html)


@pytest.mark.parametrize("source", HOSTILE)
def test_the_sanitiser_cleans_even_raw_html(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: were the Markdown step to let raw HTML through, the sanitiser would still
    strip scripts, handlers, dangerous links, styles, frames, SVG and images."""
    monkeypatch.setattr(markdown, "_renderer", MarkdownIt("commonmark", {"html": True}))
    html = render_markdown(source)
    assert_safe(html)
    for forbidden in ("<img", "<svg", "<iframe", "<style", "<object", "<form", "<input", "<button", "<base",
                      "<meta", "<link", "<video", "<math", "<details", "hx-get", "hx-on", "style="):
        assert forbidden not in html.lower(), (forbidden, html)


def test_a_hostile_proposal_body() -> None:
    body = "\n\n".join(HOSTILE)
    html = render_markdown(body)
    assert_safe(html)
    assert "<script" not in html
    assert "onerror=" not in "".join(tags_of(html))
    assert "javascript:" not in "".join(tags_of(html))
    # Nothing of what the resident wrote is lost from sight: it shows as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_raw_html_shows_as_text() -> None:
    expected = "<p>&lt;b&gt;gras&lt;/b&gt; et &lt;i&gt;penché&lt;/i&gt;</p>\n"
    assert render_markdown("<b>gras</b> et <i>penché</i>") == expected


def test_images_are_not_embedded() -> None:
    html = render_markdown("![une photo](https://example.org/photo.jpg)")
    assert "<img" not in html
    assert "src=" not in html


def test_links_are_marked_nofollow_ugc() -> None:
    for source in ("[Le site](https://example.org)", "<https://example.org>", "[écrire](mailto:mairie@example.fr)",
                   "[relatif](/consultations)", "[titre](http://example.org \"Un titre\")"):
        html = render_markdown(source)
        (attrs,) = [attrs for name, attrs in parsed(html) if name == "a"]
        assert {"nofollow", "ugc"} <= set((attrs["rel"] or "").split()), html
    html = render_markdown("[titre](http://example.org \"Un titre\")")
    assert html == '<p><a href="http://example.org" title="Un titre" rel="nofollow ugc noopener">titre</a></p>\n'


def test_a_rel_written_by_the_author_does_not_survive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(markdown, "_renderer", MarkdownIt("commonmark", {"html": True}))
    html = render_markdown('<a href="https://example.org" rel="opener" target="_blank">x</a>')
    assert html == '<p><a href="https://example.org" rel="nofollow ugc noopener">x</a></p>\n'


def test_ordinary_markdown_still_works() -> None:
    source = ("# Titre\n\n## Sous-titre\n\n**Gras**, *penché*, `code`.\n\n- un\n- deux\n\n1. premier\n\n"
              "> citation\n\n---")
    html = render_markdown(source)
    assert "<h3>Titre</h3>" in html  # headings step down below the page's own
    assert "<h4>Sous-titre</h4>" in html
    assert "<h1" not in html
    assert "<h2" not in html
    for fragment in ("<strong>Gras</strong>", "<em>penché</em>", "<code>code</code>", "<ul>", "<li>un</li>", "<ol>",
                     "<blockquote>", "<hr>"):
        assert fragment in html, fragment
    assert_safe(html)


def test_plain_urls_are_not_turned_into_links() -> None:
    assert "<a" not in render_markdown("Voir https://example.org pour plus.")


def test_empty_text() -> None:
    assert render_markdown("") == ""
