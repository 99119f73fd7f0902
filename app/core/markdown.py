"""Markdown written by residents, rendered and sanitised: no raw HTML, no scripts, no event
handlers, only http(s) and mailto links, and every link marked nofollow ugc."""

import nh3
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre", "h3", "h4", "h5", "h6", "hr",
}


def render_markdown(source: str) -> str:
    """Safe HTML for `source`. Headings are shifted down so a resident's text never outranks the page's."""
    html = _renderer.render(source)
    html = (
        html.replace("<h1>", "<h3>").replace("</h1>", "</h3>").replace("<h2>", "<h4>").replace("</h2>", "</h4>")
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
        strip_comments=True,
    )
