"""CSV files that spreadsheets open safely, written as a stream.

Conventions (Etalab): comma, `"` quoting as RFC 4180 needs it, UTF-8 without BOM, CRLF line ends,
dates and moments in ISO 8601. A text cell that a spreadsheet would run as a formula (one that
starts with = + - @, a tab or a carriage return, also behind leading spaces or quotes) gets a
leading apostrophe (OWASP "CSV injection", ASVS 5.0 1.2.10). Numbers stay numbers: a number
is never a formula, even a negative one.

Every export of the platform writes through `csv_rows`, so none can forget the neutraliser."""

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

# What makes a spreadsheet read a cell as a formula (or start a new one, for tab and CR), with the
# full-width forms some spreadsheets fold onto them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# What may stand before a formula and be skipped by a spreadsheet: spaces, line feeds and quotes.
SKIPPED_BEFORE = " \n\"'"

CHUNK_CHARS = 64 * 1024  # what a stream sends at a time: many rows per write, bounded memory

Cell = str | int | float | Decimal | bool | date | datetime | None


_FORMULA_FIRST = frozenset(FORMULA_STARTS)  # each one character
_WATCHED_FIRST = _FORMULA_FIRST | frozenset(SKIPPED_BEFORE)  # a text starting otherwise is safe as is


def safe_text(text: str) -> str:
    """Text that no spreadsheet will run: an apostrophe before anything that would be a formula."""
    if text and (text[0] in _FORMULA_FIRST
                 or (text[0] in SKIPPED_BEFORE and text.lstrip(SKIPPED_BEFORE)[:1] in _FORMULA_FIRST)):
        return "'" + text
    return text


def safe_cell(value: Cell) -> str | int | float | Decimal:
    """One cell as written: text neutralised, numbers as they are, moments in ISO 8601 (UTC, 'Z')."""
    # The common cases first, by exact type: exports write millions of cells.
    if type(value) is int:
        return value
    if isinstance(value, str):
        if value and value[0] in _WATCHED_FIRST:
            return safe_text(value)
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return safe_text(str(value))


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Cell]], *,
             chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """The header then every row, neutralised, in chunks of about `chunk_chars` characters: give
    it to a StreamingResponse and memory stays constant whatever the number of rows (as long as
    `rows` itself is a stream, e.g. a query with yield_per)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    write, watched = writer.writerow, _WATCHED_FIRST
    for row in rows:
        # safe_cell for every cell, inlined for the commonest ones (text that cannot start a
        # formula, whole numbers, dates, which the writer prints in ISO 8601 as safe_cell does):
        # exports write millions of cells, and a call per cell showed.
        write([cell if ((kind := type(cell)) is str and (not cell or cell[0] not in watched)) or kind is int
               or kind is date else safe_cell(cell) for cell in row])
        if buffer.tell() >= chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
