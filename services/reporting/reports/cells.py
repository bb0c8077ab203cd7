"""How one report cell is written: the formats of docs/reporting.md "Reports"
(domain.md), once in Python and once as SQL.

The reports stream large row counts, so the cells of the big CSVs are made
by PostgreSQL: each column is a SQL expression producing the finished text
(formatted, neutralised, CSV-quoted) and a row is one text line, so Python
only moves bytes. The Python functions here are the same rules for the few
cells made in Python (the gradebook's item headers) and are what the unit
tests hold the SQL to (`tests/test_reports_cells.py` compares both on the
same awkward values).

Formats:
  time      UTC ISO-8601 with milliseconds, `2019-12-23T06:18:32.782Z`
  yes/no    `Yes` / `No`
  number    2 decimals, `12.82` (a dot, no thousands separator)
  integer   as is
  text      as is
  unknown   empty (NULL)

Neutralising (CSV injection): a cell that starts with `=`, `+`, `-`, `@`,
tab or carriage return gets a leading apostrophe, so a spreadsheet shows it
as text instead of running it as a formula (OWASP's advice). Every cell is
checked, whatever its kind.

Quoting (RFC 4180): a cell holding a comma, a double quote, CR or LF is
enclosed in double quotes with its quotes doubled. Rows end with CRLF."""
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NEEDS_QUOTES = (",", '"', "\r", "\n")
BOM = "\ufeff"
ROW_END = "\r\n"


# ---------------------------------------------------------------- Python ---


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def quote(value: str) -> str:
    if any(c in value for c in NEEDS_QUOTES):
        return '"' + value.replace('"', '""') + '"'
    return value


def iso_ms(value: datetime | None) -> str:
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return "Yes" if value else "No"


def two_decimals(value) -> str:
    if value is None:
        return ""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cell(value) -> str:
    """Any value as a finished cell (formatted by its Python type, neutralised, quoted)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = yes_no(value)
    elif isinstance(value, datetime):
        text = iso_ms(value)
    elif isinstance(value, float | Decimal):
        text = two_decimals(value)
    else:
        text = str(value)
    return quote(neutralise(text))


def line(values) -> str:
    return ",".join(cell(v) for v in values) + ROW_END


def finish(row) -> str:
    """A row of the export query (`sql_row`) as a CSV line (without CRLF):
    its SEP-joined line with commas, or its cells finished here when risky."""
    line_text, risky_cells = row
    if risky_cells is None:
        return line_text.replace(SEP, ",")
    return ",".join(quote(neutralise(v)) if v else "" for v in risky_cells)


# ------------------------------------------------------------------- SQL ---
# Each takes a SQL expression and returns a SQL expression of type text, NULL
# for unknown. `sql_row` turns a row's cell expressions into the two columns
# the export reads: the finished line, and the cells themselves only when the
# line needs care (see `RISKY`).


def sql_time(expr: str) -> str:
    # to_char's MS is the milliseconds of the value (truncated, as Python's // 1000).
    return f"""to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


def sql_yes_no(expr: str) -> str:
    return f"(CASE WHEN ({expr}) THEN 'Yes' WHEN NOT ({expr}) THEN 'No' END)"


def sql_number(expr: str) -> str:
    # numeric rounding is half away from zero, as ROUND_HALF_UP; ::text keeps the 2 decimals
    return f"(round(({expr})::numeric, 2)::text)"


def sql_hundredths(expr: str) -> str:
    """A non-negative whole number of hundredths (bigint) as `12.82`: integer
    arithmetic, several times cheaper for PostgreSQL than rounding a numeric
    (measured), for the Usage report's per-row figures."""
    return f"(({expr}) / 100)::text || '.' || lpad((({expr}) % 100)::text, 2, '0')"


def sql_integer(expr: str) -> str:
    return f"(({expr})::bigint::text)"


def sql_text(expr: str) -> str:
    return f"(({expr})::text)"


# Finished cells in SQL, for values shared by many rows (a person's, a course's, a program's cells in the
# Usage report): neutralised, quoted, '' for unknown, so that the rows that join them need no check at all.


def sql_cell(expr: str) -> str:
    """A text expression as a finished cell: `quote(neutralise(v))`, '' for NULL or empty. A few string
    functions per value: for values made once per person, course or program, not once per row."""
    neutral = (f"(CASE WHEN left(({expr}), 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || ({expr}) "
               f"ELSE ({expr}) END)")
    needs_quotes = f"({neutral} ~ '[\",\\r\\n]')"
    quoted = f"""'"' || replace({neutral}, '"', '""') || '"'"""
    return f"coalesce(CASE WHEN {needs_quotes} THEN {quoted} ELSE {neutral} END, '')"


def sql_safe(expr: str) -> str:
    """A cell that never needs quoting or neutralising (a time, Yes/No, a non-negative number): '' for NULL."""
    return f"coalesce({expr}, '')"


# In SQL a row's cells are joined with SEP (U+001F, a control character no
# text field accepts), not commas, so that a comma inside a cell stays
# visible. The line is final (Python turns SEP into commas) unless a cell
# holds a quote, comma, CR or LF (it needs quoting), a cell starts with a
# formula character (it needs neutralising), or a cell holds SEP itself (the
# count of SEPs is off). Few rows are such: only those come with their cells,
# which Python finishes (`finish`). One regular expression and one count per
# row cost PostgreSQL far less than quoting and neutralising every cell in
# SQL (measured: docs/reporting.md "Reports").
SEP = "\x1f"
RISKY = "E'[\",\\r\\n]|(^|\\x1f)[-=+@\\t]'"


def sql_row(cell_exprs: list[str]) -> tuple[str, str]:
    """(select list, lateral join) for one row: `line` (the cells joined by
    SEP, NULL as empty) and `cells` (NULL unless the line is risky; evaluated
    only then)."""
    joined = "concat_ws(E'\\x1f', " + ", ".join(f"coalesce({e}, '')" for e in cell_exprs) + ")"
    separators = len(cell_exprs) - 1
    risky = (f"x.line ~ {RISKY} OR length(x.line) - length(replace(x.line, E'\\x1f', '')) <> {separators}")
    select = f"x.line, CASE WHEN {risky} THEN ARRAY[" + ", ".join(cell_exprs) + "]::text[] END AS cells"
    return select, f"CROSS JOIN LATERAL (SELECT {joined} AS line) x"
