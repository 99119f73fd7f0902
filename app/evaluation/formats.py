"""Writers of the export formats: CSV, JSON, XLSX, ODS, PaBuLib `.pb` and zip archives.

Every writer takes its rows as an iterable and never holds more than a chunk of them: CSV and
JSON yield text as they go, the zip writer streams into any writable object (a socket-bound
queue or a file), XLSX (openpyxl write-only) and ODS (our own content.xml, streamed into the
zip) write to a file that is then streamed. Memory does not depend on the number of rows.

Injection: CSV cells go through app.core.csv (formula-looking text gets a leading apostrophe);
XLSX cells are written with an explicit string type (`inlineStr`) and ODS cells as
`office:value-type="string"`, so a title starting with `=` is shown, never computed."""

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from app.core.csv import CHUNK_CHARS, Cell, csv_rows

# Frictionless Table Schema types used by the exports.
FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime")


@dataclass(frozen=True)
class Column:
    name: str  # French snake_case, the same in every format
    type: str  # a Table Schema type (FIELD_TYPES)
    description: str  # French, for the README and datapackage.json


@dataclass(frozen=True)
class Table:
    """One data set of an export: its file name (without extension), a title and its columns."""

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]

    @property
    def header(self) -> list[str]:
        return [column.name for column in self.columns]

    def schema(self) -> dict[str, Any]:
        """Its Frictionless Table Schema."""
        return {
            "fields": [{"name": c.name, "type": c.type, "description": c.description} for c in self.columns],
            "missingValues": [""],
        }


Row = Sequence[Cell]
Sheet = tuple[Table, Iterable[Row]]


def iso(value: date | datetime) -> str:
    """ISO 8601; moments in UTC with a 'Z'."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat().replace("+00:00", "Z")
    return value.isoformat()


# --- CSV and JSON: text, streamed


def csv_chunks(table: Table, rows: Iterable[Row]) -> Iterator[bytes]:
    """UTF-8 CSV (comma, header row, ISO 8601, neutralised cells), in chunks of about 64 kB."""
    for text in csv_rows(table.header, rows):
        if text:
            yield text.encode()


def _json_value(value: Cell) -> Any:
    if isinstance(value, date | datetime):
        return iso(value)
    return value


def json_chunks(head: dict[str, Any], sheets: Iterable[Sheet], tail: Callable[[], dict[str, Any]] | None = None,
                ) -> Iterator[bytes]:
    """One JSON object: the keys of `head`, then `"tables": {name: [row objects…]}` streamed row by
    row, then the keys `tail()` returns once every row is out (e.g. row counts)."""
    buffer = io.StringIO()
    buffer.write("{")
    for key, value in head.items():
        buffer.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, default=_json_value)}, ")
    buffer.write('"tables": {')
    for index, (table, rows) in enumerate(sheets):
        buffer.write(("" if index == 0 else ", ") + json.dumps(table.name) + ": [")
        names = table.header
        first = True
        for row in rows:
            item = {name: _json_value(cell) for name, cell in zip(names, row, strict=True)}
            buffer.write(("\n" if first else ",\n") + json.dumps(item, ensure_ascii=False))
            first = False
            if buffer.tell() >= CHUNK_CHARS:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        buffer.write("]")
    buffer.write("}")
    for key, value in (tail() if tail else {}).items():
        buffer.write(f", {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, default=_json_value)}")
    buffer.write("}\n")
    yield buffer.getvalue().encode()


# --- zip archives, streamed into any writable object


class ChunkSink:
    """A write-only, unseekable file: zipfile then writes data descriptors and never seeks back,
    so an archive can be sent while it is being written (drain() after each chunk)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        self.size = 0
        return out


ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def _zip_info(name: str, when: datetime | None, *, stored: bool = False) -> zipfile.ZipInfo:
    moment = when.astimezone(UTC) if when else None
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6] if moment else ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def zip_chunks(members: Iterable[tuple[str, Iterable[bytes]]], *, when: datetime | None = None) -> Iterator[bytes]:
    """A zip archive of (name, chunks of content) members, yielded as it is written."""
    sink = ChunkSink()
    with zipfile.ZipFile(sink, "w") as archive:  # type: ignore[arg-type]  # a write-only file is enough
        for name, chunks in members:
            with archive.open(_zip_info(name, when), "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    if sink.size >= CHUNK_CHARS:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def file_chunks(handle: IO[bytes], size: int = CHUNK_CHARS) -> Iterator[bytes]:
    """A file, from its start, in chunks."""
    handle.seek(0)
    while chunk := handle.read(size):
        yield chunk


# --- XLSX (openpyxl, write-only)

# Characters XML 1.0 cannot hold (openpyxl refuses them): dropped from text cells.
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xlsx_cell(sheet: Any, value: Cell) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        # Excel has no time zones: moments are written in UTC (the column says so).
        cell = WriteOnlyCell(sheet, value=value.astimezone(UTC).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    cell = WriteOnlyCell(sheet, value=ILLEGAL_XML.sub("", str(value)))
    cell.data_type = "s"  # text, even when it starts with "=": never a formula
    return cell


def write_xlsx(target: IO[bytes], sheets: Iterable[Sheet]) -> None:
    """An XLSX workbook, one sheet per table, header row first. openpyxl's write-only mode keeps
    each sheet in a temporary file while rows are appended, so memory stays constant."""
    workbook = Workbook(write_only=True)
    for table, rows in sheets:
        sheet = workbook.create_sheet(title=table.name[:31])
        sheet.append([_xlsx_cell(sheet, name) for name in table.header])
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(target)  # type: ignore[arg-type]  # openpyxl accepts a binary file


# --- ODS (OpenDocument spreadsheet): content.xml written row by row into the zip

ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
ODS_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"'
)
ODS_STYLES = (
    "<office:automatic-styles>"
    '<number:date-style style:name="N-date"><number:year number:style="long"/><number:text>-</number:text>'
    '<number:month number:style="long"/><number:text>-</number:text><number:day number:style="long"/>'
    "</number:date-style>"
    '<number:date-style style:name="N-moment"><number:year number:style="long"/><number:text>-</number:text>'
    '<number:month number:style="long"/><number:text>-</number:text><number:day number:style="long"/>'
    '<number:text> </number:text><number:hours number:style="long"/><number:text>:</number:text>'
    '<number:minutes number:style="long"/><number:text>:</number:text><number:seconds number:style="long"/>'
    "</number:date-style>"
    '<style:style style:name="date" style:family="table-cell" style:data-style-name="N-date"/>'
    '<style:style style:name="moment" style:family="table-cell" style:data-style-name="N-moment"/>'
    "</office:automatic-styles>"
)
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="{ODS_MIMETYPE}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def _ods_text(text: str) -> str:
    """A text cell's paragraph: escaped, line feeds as line breaks, tabs as tabs."""
    parts = [escape(line).replace("\t", "<text:tab/>") for line in ILLEGAL_XML.sub("", text).split("\n")]
    return "<text:p>" + "<text:line-break/>".join(parts) + "</text:p>"


def _ods_cell(value: Cell) -> str:
    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, bool):
        word = "true" if value else "false"
        return (f'<table:table-cell office:value-type="boolean" office:boolean-value="{word}">'
                f"<text:p>{word}</text:p></table:table-cell>")
    if isinstance(value, int | float):
        return (f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>")
    if isinstance(value, datetime):
        moment = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        return (f'<table:table-cell table:style-name="moment" office:value-type="date" office:date-value="{moment}">'
                f"<text:p>{iso(value)}</text:p></table:table-cell>")
    if isinstance(value, date):
        return (f'<table:table-cell table:style-name="date" office:value-type="date" '
                f'office:date-value="{value.isoformat()}"><text:p>{value.isoformat()}</text:p></table:table-cell>')
    return f'<table:table-cell office:value-type="string">{_ods_text(str(value))}</table:table-cell>'


def _ods_content(sheets: Iterable[Sheet]) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {ODS_NAMESPACES} '
                 f'office:version="1.2">{ODS_STYLES}<office:body><office:spreadsheet>')
    for table, rows in sheets:
        buffer.write(f"<table:table table:name={quoteattr(table.name)}>")
        buffer.write("<table:table-row>" + "".join(_ods_cell(name) for name in table.header) + "</table:table-row>")
        for row in rows:
            buffer.write("<table:table-row>" + "".join(_ods_cell(value) for value in row) + "</table:table-row>")
            if buffer.tell() >= CHUNK_CHARS:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        buffer.write("</table:table>")
    buffer.write("</office:spreadsheet></office:body></office:document-content>")
    yield buffer.getvalue().encode()


def write_ods(target: IO[bytes], sheets: Iterable[Sheet]) -> None:
    """An ODS spreadsheet (OpenDocument 1.2), one table per data set, written to a seekable file
    (the `mimetype` member comes first and uncompressed, as the standard asks)."""
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(_zip_info("mimetype", None, stored=True), ODS_MIMETYPE)
        archive.writestr(_zip_info("META-INF/manifest.xml", None), ODS_MANIFEST)
        with archive.open(_zip_info("content.xml", None), "w", force_zip64=True) as member:
            for chunk in _ods_content(sheets):
                member.write(chunk)


# --- PaBuLib (.pb): the participatory-budgeting research format


def pabulib_chunks(meta: Sequence[tuple[str, Cell]], project_columns: Sequence[str], projects: Iterable[Row],
                   votes: Iterable[tuple[str, Sequence[int]]]) -> Iterator[bytes]:
    """META (key;value), PROJECTS (project_id;cost;…) and VOTES (voter_id;vote) sections,
    `;`-separated (pabulib.org/format). Votes are a voter's chosen project ids, comma-joined."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(["META"])
    writer.writerow(["key", "value"])
    for key, value in meta:
        writer.writerow([key, "" if value is None else value])
    writer.writerow(["PROJECTS"])
    writer.writerow(list(project_columns))
    for project in projects:
        writer.writerow(["" if cell is None else cell for cell in project])
    writer.writerow(["VOTES"])
    writer.writerow(["voter_id", "vote"])
    for voter, chosen in votes:
        writer.writerow([voter, ",".join(str(pid) for pid in chosen)])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()

