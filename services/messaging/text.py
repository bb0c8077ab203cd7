"""Making text fit for one header line (names, subjects) and for PostgreSQL.
Refusing such text at input is the contracts' rule (`contracts.fields`);
this cleans whatever arrived anyway (events, older rows)."""
import re

# Control characters (C0 with CR, LF, NUL, ESC; DEL; C1 with NEL), line and
# paragraph separators, lone surrogates, and bidirectional overrides (which
# disguise what a name says).
NOT_ON_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
NAME_LIMIT = 100  # characters of a display name in a header
NAME_COLUMN = 200  # characters of the name columns (people, deliveries, orgs, programs)


def single_line(value: str | None, limit: int = NAME_LIMIT) -> str:
    """`value` made fit for one header line: every control character or line
    break becomes a space, runs of spaces one space, at most `limit` characters."""
    if not value:
        return ""
    return " ".join(NOT_ON_ONE_LINE.sub(" ", value).split())[:limit].rstrip()


def storable(value):
    """Strings (also inside lists and dicts) without NUL, which PostgreSQL text and jsonb cannot hold."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
