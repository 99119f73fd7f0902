"""CSV cells a spreadsheet would run as formulas are neutralised; rows are written as a stream."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.core.csv import csv_rows, safe_cell


@pytest.mark.parametrize("hostile", [
    "=cmd|' /C calc'!A0", "=1+1", "+33612345678", "-2+3", "@SUM(A1:A2)", "\t=1", "\tstart", "\rstart",
    " =1+1", "  @x", '"=1+1', "'=1+1", "\n=1", "＝1+1", "＋1",
])
def test_formulas_get_an_apostrophe(hostile: str) -> None:
    assert safe_cell(hostile) == "'" + hostile


@pytest.mark.parametrize("harmless", ["", "Bonjour", "Jean-Pierre", "a=b", "3 + 4", "12", "mail@example.fr",
                                      "Élodie", " espace"])
def test_ordinary_text_is_kept(harmless: str) -> None:
    assert safe_cell(harmless) == harmless


def test_values_other_than_text() -> None:
    assert safe_cell(None) == ""
    assert safe_cell(-5) == -5  # a number is never a formula
    assert safe_cell(-2.5) == -2.5
    assert safe_cell(Decimal("-1.10")) == Decimal("-1.10")
    assert (safe_cell(True), safe_cell(False)) == ("true", "false")
    assert safe_cell(date(2027, 3, 1)) == "2027-03-01"
    assert safe_cell(datetime(2027, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))) == "2027-03-01T12:00:00Z"
    assert safe_cell(datetime(2027, 3, 1, 12, 0, 0, 5, tzinfo=UTC)) == "2027-03-01T12:00:00.000005Z"


def test_rows_are_rfc_4180_with_a_header() -> None:
    text = "".join(csv_rows(["name", "note"], [["=evil", 'il a dit "oui", puis\nnon'], [None, -1]]))
    assert text == "name,note\r\n'=evil,\"il a dit \"\"oui\"\", puis\nnon\"\r\n,-1\r\n"
    assert list(csv.reader(io.StringIO(text))) == [["name", "note"], ["'=evil", 'il a dit "oui", puis\nnon'],
                                                   ["", "-1"]]


def test_the_header_is_neutralised_too() -> None:
    assert "".join(csv_rows(["=x"], [])) == "'=x\r\n"


def test_rows_are_written_as_they_come() -> None:
    """An endless stream of rows still gives its first chunks: nothing is gathered in memory."""

    def endless() -> Iterator[list[str]]:
        n = 0
        while True:
            n += 1
            yield [f"ligne {n}", "x" * 100]

    chunks = csv_rows(["a", "b"], endless(), chunk_chars=1000)
    first, second = next(chunks), next(chunks)
    assert 1000 <= len(first) < 1200
    assert 1000 <= len(second) < 1200
    assert first.startswith("a,b\r\nligne 1,")
