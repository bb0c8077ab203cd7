"""Cell formats and CSV injection, in Python; the SQL twins are held to the same
answers in test_export_sql.py (needs PostgreSQL)."""
import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.reporting.reports import cells


def test_times_are_utc_iso_with_milliseconds():
    value = datetime(2019, 12, 23, 6, 18, 32, 782999, tzinfo=UTC)
    assert cells.iso_ms(value) == "2019-12-23T06:18:32.782Z"
    assert cells.iso_ms(value.astimezone(timezone(timedelta(hours=-5)))) == "2019-12-23T06:18:32.782Z"
    assert cells.iso_ms(datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00.000Z"
    assert cells.iso_ms(None) == ""


def test_yes_no_and_two_decimals():
    assert (cells.yes_no(True), cells.yes_no(False), cells.yes_no(None)) == ("Yes", "No", "")
    assert cells.two_decimals(12.8205) == "12.82"
    assert cells.two_decimals(Decimal("0.285")) == "0.29"
    assert cells.two_decimals(88.25) == "88.25"
    assert cells.two_decimals(100) == "100.00"
    assert cells.two_decimals(None) == ""


@pytest.mark.parametrize("dangerous", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx",
                                       '=HYPERLINK("http://evil","x")', "=cmd|' /C calc'!A0"])
def test_formula_starts_are_neutralised(dangerous):
    written = cells.line(["Ann", dangerous])
    (row,) = csv.reader(io.StringIO(written))
    assert row[0] == "Ann"
    assert row[1] == "'" + dangerous
    assert row[1][0] not in "=+-@\t\r"


@pytest.mark.parametrize("harmless", ["Ann", "a=b", "O'Neil", "x-y", "", "Zoë 山田"])
def test_other_cells_are_unchanged(harmless):
    (row,) = csv.reader(io.StringIO(cells.line([harmless, "z"])))
    assert row == [harmless, "z"]


def test_quotes_commas_and_newlines_round_trip():
    values = ['say "hi"', "a,b", "two\nlines", "cr\rinside"]
    (row,) = csv.reader(io.StringIO(cells.line(values), newline=""))
    assert row == values
    assert cells.line(["a", "b"]).endswith("\r\n")
