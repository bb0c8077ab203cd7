"""SCIM filters (RFC 7644 3.4.2.2), parsed by scim2-filter-parser's grammar
(its lexer and parser only: its SQL transpiler drops unknown attributes, which
would turn `nosuch eq "x"` into "every user", and does not escape LIKE
wildcards). Two uses of the one AST:

* `condition(...)`: a list filter as a SQLAlchemy condition over the
  attributes a column holds (userName, externalId, emails, ...); any other
  attribute is 400 invalidFilter, never ignored;
* `matches(...)`: a value filter of a PATCH path (`emails[type eq "work"]`)
  evaluated on one element of a multi-valued attribute, in memory."""
from collections.abc import Callable
from datetime import datetime

from scim2_filter_parser import ast as scim_ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser
from sqlalchemy import and_, false, func, not_, or_, true

from contracts.errors import AppError, ErrorCode
from contracts.scim import CORE_GROUP, CORE_USER, ScimType

MAX_FILTER_LENGTH = 2000
MAX_FILTER_DEPTH = 20
CORE_SCHEMAS = {CORE_USER.lower(), CORE_GROUP.lower()}


def invalid_filter(message: str) -> AppError:
    return AppError(ErrorCode.INVALID_INPUT, message, {"scimType": ScimType.INVALID_FILTER, "filter": [message]})


def parse(text: str):
    """The AST of a filter; 400 invalidFilter for anything the grammar refuses."""
    if not isinstance(text, str) or not text.strip():
        raise invalid_filter("the filter is empty")
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as exc:  # noqa: BLE001 - the library raises its own errors and a few of Python's
        raise invalid_filter(f"the filter cannot be parsed: {str(exc)[:200]}") from None
    if tree is None:
        raise invalid_filter("the filter cannot be parsed")
    if _depth(tree) > MAX_FILTER_DEPTH:
        raise invalid_filter(f"the filter nests more than {MAX_FILTER_DEPTH} levels")
    return tree


def _depth(node, level: int = 0) -> int:
    if isinstance(node, scim_ast.Filter):
        return _depth(node.expr, level + 1)
    if isinstance(node, scim_ast.LogExpr):
        return max(_depth(node.expr1, level + 1), _depth(node.expr2, level + 1))
    return level


def literal(comp) -> object:
    """A comparison value as Python: a string, number, True/False or None."""
    if comp is None:
        return None
    value = comp.value
    if value == "true":
        return True
    if value == "false":
        return False
    if value == "null":
        return None
    return value


def attribute_name(path) -> str:
    """`emails.value`, `name.givenName`, `urn:...:User:department` as one dotted, lower-cased name."""
    name = path.attr_name
    if isinstance(name, scim_ast.Filter):  # emails[type eq "work"].value: handled by the caller
        raise invalid_filter("value filters are supported in PATCH paths only")
    name = str(name)
    if path.uri and path.uri.lower() not in CORE_SCHEMAS:
        name = f"{path.uri}:{name}"
    if path.sub_attr is not None:
        name = f"{name}.{path.sub_attr.value}"
    return name.lower()


# ---------------------------------------------------------------- SQL


def like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def condition(text: str, columns: dict[str, tuple[object, str]]):
    """A list filter as a SQLAlchemy condition. `columns`: lower-cased SCIM
    attribute name -> (column, kind) with kind "ci" (case-insensitive string),
    "lc" (a string column stored lower-cased), "cs" (case-exact string), "bool",
    "datetime" or "constant" (one value for everyone)."""
    tree = parse(text)

    def visit(node):
        if isinstance(node, scim_ast.Filter):
            if node.namespace is not None:
                return visit_namespaced(node)
            inner = visit(node.expr)
            return not_(inner) if node.negated else inner
        if isinstance(node, scim_ast.LogExpr):
            left, right = visit(node.expr1), visit(node.expr2)
            return and_(left, right) if node.op.lower() == "and" else or_(left, right)
        if isinstance(node, scim_ast.AttrExpr):
            return compare(node)
        raise invalid_filter("unsupported filter expression")

    def visit_namespaced(node):
        # emails[type eq "work" and value eq "x"]: only `value` (the address) and `type`/`primary` are known;
        # the account has one email, of type work, primary.
        namespace = str(node.namespace.attr_name).lower()
        if namespace != "emails":
            raise invalid_filter(f"unsupported attribute {node.namespace.attr_name} in a value filter")
        inner = visit(scim_ast.Filter(rewrite_namespace(node.expr, namespace), node.negated, None))
        return inner

    def compare(node):
        if isinstance(node.attr_path.attr_name, scim_ast.Filter):
            # emails[type eq "work"].value eq "x": the bracket filter and the comparison of the sub-attribute
            bracket = node.attr_path.attr_name
            if bracket.namespace is None:
                raise invalid_filter("unsupported value filter")
            namespace = str(bracket.namespace.attr_name).lower()
            sub_attr = bracket.namespace.sub_attr or node.attr_path.sub_attr
            sub = sub_attr.value if sub_attr is not None else "value"
            outer = scim_ast.AttrExpr(node.value, scim_ast.AttrPath(f"{namespace}.{sub}", None, None), node.comp_value)
            return and_(visit(scim_ast.Filter(rewrite_namespace(bracket.expr, namespace), bracket.negated, None)),
                        compare(outer))
        name = attribute_name(node.attr_path)
        if name not in columns:
            raise invalid_filter(f"filtering on {name} is not supported")
        column, kind = columns[name]
        return operator(column, kind, node.value.lower(), literal(node.comp_value), name)

    return visit(tree)


def rewrite_namespace(expr, namespace: str):
    """`type eq "work"` inside emails[...] -> `emails.type eq "work"`."""
    if isinstance(expr, scim_ast.AttrExpr):
        path = expr.attr_path
        return scim_ast.AttrExpr(expr.value, scim_ast.AttrPath(f"{namespace}.{path.attr_name}", path.sub_attr, None),
                                 expr.comp_value)
    if isinstance(expr, scim_ast.LogExpr):
        return scim_ast.LogExpr(expr.op, rewrite_namespace(expr.expr1, namespace),
                                rewrite_namespace(expr.expr2, namespace))
    if isinstance(expr, scim_ast.Filter):
        return scim_ast.Filter(rewrite_namespace(expr.expr, namespace), expr.negated, None)
    raise invalid_filter("unsupported value filter")


def operator(column, kind: str, op: str, value, name: str):
    if kind == "constant":  # an attribute with one value for everyone (emails.type: work)
        return true() if _compare_python(op, column, value) else false()
    if op == "pr":
        return column.isnot(None)
    if value is None:
        return column.is_(None) if op == "eq" else column.isnot(None) if op == "ne" else _bad(op, name)
    if kind == "bool":
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise invalid_filter(f"{name} compares with eq or ne to true or false")
        return column == value if op == "eq" else column != value
    if kind == "datetime":
        if not isinstance(value, str):
            raise invalid_filter(f"{name} compares with a date-time string")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid_filter(f"{name}: {value!r} is not an ISO-8601 date-time") from None
        return _ordered(column, op, moment, name)
    if not isinstance(value, str):
        raise invalid_filter(f"{name} compares with a string")
    # "lc": a column stored lower-cased (its index serves Okta's userName eq probes); "ci": lower() both sides
    left, right = (func.lower(column), value.lower()) if kind == "ci" else \
        (column, value.lower()) if kind == "lc" else (column, value)
    if op in ("co", "sw", "ew"):
        pattern = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}[op].format(like_escape(right))
        return left.like(pattern, escape="\\")
    return _ordered(left, op, right, name)


def _ordered(column, op: str, value, name: str):
    ops: dict[str, Callable] = {"eq": column.__eq__, "ne": column.__ne__, "gt": column.__gt__,
                                "ge": column.__ge__, "lt": column.__lt__, "le": column.__le__}
    if op not in ops:
        _bad(op, name)
    return ops[op](value)


def _bad(op: str, name: str):
    raise invalid_filter(f"the operator {op} does not apply to {name}")


# ---------------------------------------------------------------- in memory (PATCH value filters)


def _get(element: dict, name: str):
    for key, value in element.items():
        if key.lower() == name.lower():
            return value
    return None


def _compare_python(op: str, actual, expected) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()  # the attributes PATCH filters name are caseExact false
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if not isinstance(actual, str) or not isinstance(expected, str):
        if op in ("gt", "ge", "lt", "le") and isinstance(actual, int | float) and isinstance(expected, int | float):
            return {"gt": actual > expected, "ge": actual >= expected, "lt": actual < expected,
                    "le": actual <= expected}[op]
        return False
    return {"co": expected in actual, "sw": actual.startswith(expected), "ew": actual.endswith(expected),
            "gt": actual > expected, "ge": actual >= expected, "lt": actual < expected,
            "le": actual <= expected}.get(op, False)


def matches(expr, element) -> bool:
    """Does one element of a multi-valued attribute (a dict, or a bare value
    as `value`) satisfy the bracket filter `expr`?"""
    if not isinstance(element, dict):
        element = {"value": element}
    if isinstance(expr, scim_ast.Filter):
        result = matches(expr.expr, element)
        return not result if expr.negated else result
    if isinstance(expr, scim_ast.LogExpr):
        if expr.op.lower() == "and":
            return matches(expr.expr1, element) and matches(expr.expr2, element)
        return matches(expr.expr1, element) or matches(expr.expr2, element)
    if isinstance(expr, scim_ast.AttrExpr):
        path = expr.attr_path
        if isinstance(path.attr_name, scim_ast.Filter):
            raise invalid_filter("nested value filters are not supported")
        actual = _get(element, str(path.attr_name))
        if path.sub_attr is not None:
            actual = _get(actual, path.sub_attr.value) if isinstance(actual, dict) else None
        return _compare_python(expr.value.lower(), actual, literal(expr.comp_value))
    raise invalid_filter("unsupported value filter")


def equalities(expr) -> dict:
    """The `attr eq "v"` terms an and-only filter requires (what a new element
    must carry when a PATCH adds one through `emails[type eq "work"].value`)."""
    if isinstance(expr, scim_ast.Filter) and not expr.negated:
        return equalities(expr.expr)
    if isinstance(expr, scim_ast.LogExpr) and expr.op.lower() == "and":
        return {**equalities(expr.expr1), **equalities(expr.expr2)}
    if isinstance(expr, scim_ast.AttrExpr) and expr.value.lower() == "eq" and expr.attr_path.sub_attr is None \
            and not isinstance(expr.attr_path.attr_name, scim_ast.Filter):
        return {str(expr.attr_path.attr_name): literal(expr.comp_value)}
    return {}
