"""Full-text search over proposal titles and bodies with the database's own engine: SQLite FTS5
or PostgreSQL's tsvector with French stemming. Both index `search_text` (case and accents folded),
and the tables, triggers and indexes live in the migration."""

from typing import Any

from sqlalchemy import Integer, text
from sqlmodel import Session

from app.territory.search import fold


def search_text_of(title: str, body: str) -> str:
    return fold(f"{title}\n{body}")


def matching_ids(session: Session, query: str) -> Any | None:
    """A SQL condition source: the ids of proposals matching `query`, or None when it has no word."""
    words = fold(query).split()[:12]
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # Folded words are [a-z0-9] only, safe in tsquery syntax; the last may be a word being typed.
        tsquery = " & ".join([*words[:-1], f"{words[-1]}:*"])
        return text(
            "SELECT id FROM proposal WHERE search_vector @@ to_tsquery('french', :fts_query)"
        ).bindparams(fts_query=tsquery).columns(id=Integer)
    # FTS5: every word must appear; the last one may be the start of a word (typing in progress).
    match = " ".join(f'"{word}"' for word in words[:-1]) + f' "{words[-1]}"*'
    return text("SELECT rowid FROM proposal_fts WHERE proposal_fts MATCH :fts_query").bindparams(
        fts_query=match.strip()
    ).columns(rowid=Integer)
