"""The OData query options of the Batch list operations: ``$filter``, ``$select``, ``$expand``,
``maxresults`` and ``$skiptoken`` paging, applied to the views an ``Account`` list returns.

Why here and not in the account: the account hands out snapshots (plain view dicts, views.py);
what a REST caller asks of a list (which items, which properties, how many per page) is a matter
of the REST API alone, and is answered on the request's thread without holding the engine.

One function does it all, :func:`select_page`; the parts stand alone for callers that need one
of them (:func:`compile_filter`, :func:`project`, :func:`check_expand`). Every refusal is the
service's 400 ``InvalidQueryParameterValue`` (``OutOfRangeQueryParameterValue`` for a
``maxresults`` outside 1..1000) naming the parameter as the service does: values
``QueryParameterName``, ``QueryParameterValue``, ``Reason``.

**$filter** is parsed by hand (a recursive-descent parser over a small token list) into a
predicate over view dicts. The grammar is the subset the Batch docs describe::

    expr       := and ('or' and)*
    and        := unary ('and' unary)*
    unary      := 'not' unary | '(' expr ')' | startswith | comparison
    startswith := 'startswith' '(' path ',' string ')'
    comparison := path ('eq'|'ne'|'gt'|'ge'|'lt'|'le') literal
    literal    := 'text' ('' inside is one quote) | integer | datetime'...' | bare ISO instant
                  | true | false | null

Operators and the literals ``true``/``false``/``null`` are matched without regard to case;
property paths (``executionInfo/exitCode``) are the views' camelCase names and must be in the
list's allow-list (:data:`FILTERABLE`). Evaluation never raises: a missing property is null, a
comparison across types (a number with a string, a missing exit code with ``0``) is false, even
for ``ne`` — so ``executionInfo/exitCode ne 0`` selects the completed tasks that failed, not the
ones still running; ``eq null`` / ``ne null`` test for presence. Datetimes compare as instants
whatever their spelling. Nesting (parentheses and ``not``) deeper than :data:`MAX_DEPTH` is
refused rather than recursed into.

**Paging**: items are ordered by id without case (``ids.id_key``; files by name), a page holds
at most ``maxresults`` (default and maximum 1000) matching items, and when more match, the page
comes with an absolute ``odata.nextLink``: the request's URL as the client addressed us with
every query parameter it sent (``api-version`` included: the 14.x SDK follows the link verbatim)
and a new ``$skiptoken``. The token is opaque, URL-safe base64 without padding (so neither
``quote`` nor ``parse_qs`` alters it, and it signs as sent) of the last item's order key: the
next page continues after that key, which stays right while items come and go between pages.

**$select** keeps the named top-level properties (and ``odata.metadata``); unknown names are
ignored. **$expand** accepts ``stats`` only (poolscale keeps no statistics, so nothing is added).

Pure: no Starlette import; the ``call`` is read for ``query``, ``base_url``,
``request.url.path`` and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from bisect import bisect_right
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlencode

from poolscale.runtime.service.errors import BatchError
from poolscale.runtime.service.ids import id_key

__all__ = [
    "FILTERABLE", "KINDS", "DEFAULT_MAX_RESULTS", "MAX_DEPTH",
    "select_page", "select_entity", "compile_filter", "project", "select_names", "check_expand",
    "max_results", "next_link",
    "order_key", "encode_token", "decode_token",
]

#: a page's size when the caller names none, and the most it may name
DEFAULT_MAX_RESULTS = 1000

#: the deepest nesting of parentheses and ``not`` a filter may have
MAX_DEPTH = 64

_POOLS = ("id", "state", "stateTransitionTime", "allocationState", "allocationStateTransitionTime",
          "creationTime", "lastModified", "vmSize", "enableAutoScale", "enableInterNodeCommunication")
_NODES = ("state", "stateTransitionTime", "lastBootTime", "allocationTime",
          "startTaskInfo/state", "startTaskInfo/result", "startTaskInfo/exitCode",
          "startTaskInfo/startTime", "startTaskInfo/endTime")
_JOBS = ("id", "state", "stateTransitionTime", "creationTime", "lastModified", "priority",
         "executionInfo/startTime", "executionInfo/endTime", "executionInfo/poolId",
         "executionInfo/schedulingError/code")
_SCHEDULES = ("id", "state", "stateTransitionTime", "creationTime", "lastModified",
              "executionInfo/nextRunTime", "executionInfo/recentJob/id", "executionInfo/endTime")
_TASKS = ("id", "state", "stateTransitionTime", "creationTime", "lastModified",
          "executionInfo/startTime", "executionInfo/endTime", "executionInfo/exitCode",
          "executionInfo/result", "executionInfo/retryCount", "executionInfo/requeueCount",
          "executionInfo/failureInfo/category", "executionInfo/failureInfo/code")
_PREP = tuple(f"{side}TaskExecutionInfo/{name}"
              for side in ("jobPreparation", "jobRelease")
              for name in ("state", "startTime", "endTime", "exitCode", "result"))

#: The properties each list may be filtered on (the Batch docs' tables, as poolscale's views
#: name them). A filter naming another property is refused, as the service refuses it.
FILTERABLE: Mapping[str, frozenset[str]] = {
    "pools": frozenset(_POOLS),
    "nodes": frozenset(_NODES),
    "jobs": frozenset(_JOBS),
    "jobschedules": frozenset(_SCHEDULES),
    "tasks": frozenset(_TASKS),
    "nodefiles": frozenset(("name",)),
    "taskfiles": frozenset(("name",)),
    "nodecounts": frozenset(("poolId",)),
    "certificates": frozenset(("state", "stateTransitionTime")),
    "subtasks": frozenset(),
    "prepreleasestatus": frozenset(("poolId", "nodeId") + _PREP),
}

#: the kinds of list :func:`select_page` knows
KINDS = tuple(FILTERABLE)


#: the longest parameter value an error quotes whole (a filter may be as long as the URL)
_QUOTED = 2048


def _refused(name: str, value: str, reason: str,
             code: str = "InvalidQueryParameterValue") -> BatchError:
    if len(value) > _QUOTED:
        value = value[:_QUOTED - 3] + "..."
    return BatchError(code, values=(("QueryParameterName", name), ("QueryParameterValue", value),
                                    ("Reason", reason)))


# --------------------------------------------------------------------------------------------
# order and tokens
# --------------------------------------------------------------------------------------------

def _text(view: Mapping[str, Any], name: str) -> str:
    value = view.get(name)
    return value if isinstance(value, str) else ""


def order_key(view: Mapping[str, Any], kind: str) -> tuple:
    """Where a view stands in its list: ids without case (as the service compares them), file
    names as they are, subtasks by their number."""
    if kind in ("nodefiles", "taskfiles"):
        return (_text(view, "name"),)
    if kind == "nodecounts":
        return (id_key(_text(view, "poolId")),)
    if kind == "certificates":
        return (_text(view, "thumbprintAlgorithm").lower(), _text(view, "thumbprint").lower())
    if kind == "prepreleasestatus":
        return (id_key(_text(view, "poolId")), id_key(_text(view, "nodeId")))
    if kind == "subtasks":
        number = view.get("id")
        return (number if isinstance(number, int) and not isinstance(number, bool) else -1,)
    return (id_key(_text(view, "id")),)


def encode_token(kind: str, key: tuple) -> str:
    """The ``$skiptoken`` that continues a ``kind`` list after ``key``."""
    raw = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, kind: str) -> tuple:
    """The order key a ``$skiptoken`` continues after; one this module did not make for a
    ``kind`` list is refused."""
    def bad(reason: str) -> BatchError:
        return _refused("$skiptoken", token, reason)

    # a token this module makes holds a kind and at most two ids or file names: well under
    # 2,048 characters; a longer one is not ours (and JSON nested thousands deep would exhaust
    # the decoder's recursion)
    if not token or len(token) > 2048 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise bad("the token is not one a previous page of this list returned")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise bad("the token is not one a previous page of this list returned") from None
    sample = order_key({}, kind)
    if (not isinstance(data, list) or len(data) != len(sample) + 1 or data[0] != kind
            or any(type(got) is not type(want) for got, want in zip(data[1:], sample))):
        raise bad("the token is not one a previous page of this list returned")
    return tuple(data[1:])


# --------------------------------------------------------------------------------------------
# $filter: tokens
# --------------------------------------------------------------------------------------------

_INSTANT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>datetime'(?P<dtext>[^']*)')
    | (?P<string>'(?P<stext>(?:[^']|'')*)')
    | (?P<instant>""" + _INSTANT + r""")(?![\w:.-])
    | (?P<int>-?\d+)(?![\w.:-])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<punct>[(),])
    )""", re.VERBOSE | re.ASCII)

_COMPARE = ("eq", "ne", "gt", "ge", "lt", "le")
_WORDS = frozenset(_COMPARE + ("and", "or", "not", "true", "false", "null", "startswith"))


def _instant(text: str) -> datetime | None:
    """An ISO-8601 instant as an aware datetime (UTC when it names no zone), None if it is not
    one. Fractions beyond microseconds are cut, as the SDK cuts them."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?",
                         text.strip())
    if match is None:
        return None
    head, fraction, zone = match.groups()
    try:
        value = datetime.fromisoformat(head + (f".{fraction[:6].ljust(6, '0')}" if fraction else ""))
        if zone and zone != "Z":
            value = datetime.fromisoformat(value.isoformat() + zone)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


class _Tokens:
    """The filter's tokens as ``(kind, value, position)``, with one-token look-ahead."""

    def __init__(self, text: str, refuse: Callable[[str], BatchError]) -> None:
        self.items: list[tuple[str, Any, int]] = []
        self.refuse = refuse
        pos, end = 0, len(text)
        while True:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                break
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise refuse(f"unexpected character {text[pos]!r} at position {pos + 1}")
            start = pos
            pos = match.end()
            if match.group("datetime") is not None:
                value = _instant(match.group("dtext"))
                if value is None:
                    raise refuse(f"datetime'{match.group('dtext')}' at position {start + 1} is not "
                                 "an ISO-8601 instant")
                self.items.append(("literal", value, start))
            elif match.group("string") is not None:
                self.items.append(("literal", match.group("stext").replace("''", "'"), start))
            elif match.group("instant") is not None:
                value = _instant(match.group("instant"))
                if value is None:
                    raise refuse(f"{match.group('instant')!r} at position {start + 1} is not an "
                                 "ISO-8601 instant")
                self.items.append(("literal", value, start))
            elif match.group("int") is not None:
                digits = match.group("int")
                # a 64-bit integer has at most 19 digits; longer text is not turned into a
                # number at all (int() refuses more than 4,300 digits with a ValueError)
                number = int(digits) if len(digits.lstrip("-").lstrip("0")) <= 19 else None
                if number is None or abs(number) >= 2 ** 63:
                    raise refuse(f"the number at position {start + 1} is out of range")
                self.items.append(("literal", number, start))
            elif match.group("name") is not None:
                name = match.group("name")
                word = name.lower()
                if word in ("true", "false"):
                    self.items.append(("literal", word == "true", start))
                elif word == "null":
                    self.items.append(("literal", None, start))
                elif word in _WORDS:
                    self.items.append(("word", word, start))
                else:
                    self.items.append(("name", name, start))
            else:
                self.items.append(("punct", match.group("punct"), start))
        self.index = 0

    def peek(self) -> tuple[str, Any, int] | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def next(self, what: str) -> tuple[str, Any, int]:
        token = self.peek()
        if token is None:
            raise self.refuse(f"the filter ends where {what} was expected")
        self.index += 1
        return token

    def expect(self, kind: str, value: Any, what: str) -> None:
        token = self.next(what)
        if token[0] != kind or token[1] != value:
            raise self.refuse(f"{what} was expected at position {token[2] + 1}")

    def at(self, kind: str, value: Any) -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and token[1] == value


# --------------------------------------------------------------------------------------------
# $filter: parser and predicates
# --------------------------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


def _getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    parts = tuple(path.split("/"))
    if len(parts) == 1:
        name = parts[0]
        return lambda view: view.get(name)

    def get(view: Mapping[str, Any]) -> Any:
        value: Any = view
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value
    return get


_ORDER = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


def _comparison(get: Callable[[Mapping[str, Any]], Any], op: str, literal: Any) -> Predicate:
    """``property op literal`` as a predicate that is false whenever the two sides are of
    different types (a missing property is null)."""
    test = _ORDER[op]
    if literal is None:
        if op == "eq":
            return lambda view: get(view) is None
        if op == "ne":
            return lambda view: get(view) is not None
        return lambda view: False
    if isinstance(literal, bool):
        return lambda view: (isinstance(value := get(view), bool) and test(value, literal))
    if isinstance(literal, int):
        return lambda view: (type(value := get(view)) is int and test(value, literal))
    if isinstance(literal, datetime):
        def instant(view: Mapping[str, Any]) -> bool:
            value = get(view)
            if not isinstance(value, str):
                return False
            try:                      # the views' own spelling, fast (C); others below
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
            except ValueError:
                moment = _instant(value)
            return moment is not None and test(moment, literal)
        return instant
    return lambda view: (isinstance(value := get(view), str) and test(value, literal))


def _either(parts: list[Predicate]) -> Predicate:
    """``a or b or ...``; two operands (the common case) without a generator's cost."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda view: a(view) or b(view)
    return lambda view: any(part(view) for part in parts)


def _both(parts: list[Predicate]) -> Predicate:
    """``a and b and ...``, as :func:`_either`."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda view: a(view) and b(view)
    return lambda view: all(part(view) for part in parts)


class _Parser:
    def __init__(self, text: str, kind: str) -> None:
        self.allowed = FILTERABLE[kind]
        self.kind = kind
        self.refuse = lambda reason: _refused("$filter", text, reason)
        self.tokens = _Tokens(text, self.refuse)
        self.depth = 0

    def parse(self) -> Predicate:
        if self.tokens.peek() is None:
            raise self.refuse("the filter is empty")
        predicate = self.expr()
        extra = self.tokens.peek()
        if extra is not None:
            raise self.refuse(f"unexpected {self._shown(extra)} at position {extra[2] + 1}")
        return predicate

    @staticmethod
    def _shown(token: tuple[str, Any, int]) -> str:
        kind, value, _ = token
        if kind == "literal":
            return "value " + (value.isoformat() if isinstance(value, datetime) else json.dumps(value))
        return repr(value)

    def expr(self) -> Predicate:
        parts = [self.conjunction()]
        while self.tokens.at("word", "or"):
            self.tokens.next("or")
            parts.append(self.conjunction())
        return _either(parts)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.tokens.at("word", "and"):
            self.tokens.next("and")
            parts.append(self.unary())
        return _both(parts)

    def _deeper(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.refuse(f"the filter nests parentheses and 'not' deeper than {MAX_DEPTH} "
                              f"levels (at position {position + 1})")

    def unary(self) -> Predicate:
        token = self.tokens.next("a condition")
        kind, value, position = token
        if kind == "word" and value == "not":
            self._deeper(position)
            inner = self.unary()
            self.depth -= 1
            return lambda view: not inner(view)
        if kind == "punct" and value == "(":
            self._deeper(position)
            inner = self.expr()
            self.tokens.expect("punct", ")", "')'")
            self.depth -= 1
            return inner
        if kind == "word" and value == "startswith":
            self.tokens.expect("punct", "(", "'(' after startswith")
            get = self.property(self.tokens.next("a property name"))
            self.tokens.expect("punct", ",", "','")
            prefix = self.tokens.next("a string")
            if prefix[0] != "literal" or not isinstance(prefix[1], str):
                raise self.refuse(f"startswith needs a string in quotes at position {prefix[2] + 1}")
            self.tokens.expect("punct", ")", "')'")
            text = prefix[1]
            return lambda view: isinstance(v := get(view), str) and v.startswith(text)
        get = self.property(token)
        op = self.tokens.next("a comparison operator (eq, ne, gt, ge, lt, le)")
        if op[0] != "word" or op[1] not in _COMPARE:
            raise self.refuse(f"a comparison operator (eq, ne, gt, ge, lt, le) was expected at "
                              f"position {op[2] + 1}")
        literal = self.tokens.next("a value")
        if literal[0] != "literal":
            raise self.refuse(f"a value (a 'string', a number, datetime'...', true, false or null) "
                              f"was expected at position {literal[2] + 1}")
        return _comparison(get, op[1], literal[1])

    def property(self, token: tuple[str, Any, int]) -> Callable[[Mapping[str, Any]], Any]:
        kind, value, position = token
        if kind != "name":
            raise self.refuse(f"a property name was expected at position {position + 1}")
        if value not in self.allowed:
            names = ", ".join(sorted(self.allowed)) or "none"
            raise self.refuse(f"the property {value!r} cannot be filtered on in this list; "
                              f"the properties are: {names}")
        return _getter(value)


def compile_filter(text: str, kind: str) -> Predicate:
    """A ``$filter`` as a predicate over the views of a ``kind`` list; a filter that does not
    parse, or names a property the list does not filter on, is a 400 BatchError."""
    return _Parser(text, kind).parse()


# --------------------------------------------------------------------------------------------
# $select, $expand, maxresults
# --------------------------------------------------------------------------------------------

def project(view: Mapping[str, Any], names: frozenset[str] | None) -> dict[str, Any]:
    """The view with only the ``names`` (and ``odata.metadata``); None keeps everything."""
    if names is None:
        return dict(view)
    return {key: value for key, value in view.items() if key in names or key == "odata.metadata"}


def select_names(query: Mapping[str, str]) -> frozenset[str] | None:
    """The top-level names a ``$select`` keeps (None: no ``$select``, keep all)."""
    text = query.get("$select")
    if text is None or not text.strip():
        return None
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def check_expand(query: Mapping[str, str]) -> None:
    """``$expand`` may only ask for ``stats``; poolscale records none, so it adds nothing."""
    text = query.get("$expand")
    if text is None or not text.strip():
        return
    for name in text.split(","):
        if name.strip() != "stats":
            raise _refused("$expand", text, f"{name.strip()!r} cannot be expanded; the one "
                                            "expandable property is 'stats'")


def max_results(query: Mapping[str, str]) -> int:
    """``maxresults`` as a number of items (1..1000, default 1000)."""
    text = query.get("maxresults")
    if text is None:
        return DEFAULT_MAX_RESULTS
    digits = text.strip(" ")
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", digits):
        raise _refused("maxresults", text, "maxresults is a whole number")
    number = int(digits)
    if not 1 <= number <= DEFAULT_MAX_RESULTS:
        raise _refused("maxresults", text,
                       f"maxresults must lie between 1 and {DEFAULT_MAX_RESULTS}",
                       code="OutOfRangeQueryParameterValue")
    return number


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------

def next_link(call: Any, token: str) -> str:
    """The request's URL with every query parameter it had and ``$skiptoken`` set to
    ``token``: absolute, from the address the client used."""
    params = [(name, value) for name, value in call.query.items() if name != "$skiptoken"]
    params.append(("$skiptoken", token))
    return (call.base_url.rstrip("/") + call.request.url.path + "?"
            + urlencode(params, quote_via=quote, safe="$"))


def select_entity(call: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """One item as a get (``get_pool``, ``get_task``, ...) returns it: ``$expand`` checked,
    ``$select`` applied."""
    check_expand(call.query)
    return project(view, select_names(call.query))


def select_page(call: Any, views: list[dict], kind: str) -> tuple[list[dict], str | None]:
    """One page of a ``kind`` list (:data:`KINDS`) as the call's query asks for it: the
    matching views in order after ``$skiptoken``, at most ``maxresults`` of them, projected by
    ``$select``; and the ``odata.nextLink`` of the next page, None on the last."""
    if kind not in FILTERABLE:
        raise ValueError(f"select_page knows no list kind {kind!r}; the kinds are {', '.join(KINDS)}")
    query = call.query
    limit = max_results(query)
    check_expand(query)
    filter_text = query.get("$filter")
    predicate = compile_filter(filter_text, kind) if filter_text and filter_text.strip() else None
    token = query.get("$skiptoken")
    after = decode_token(token, kind) if token is not None else None
    names = select_names(query)

    keyed = sorted(((order_key(view, kind), view) for view in views), key=lambda pair: pair[0])
    start = 0
    if after is not None:
        start = bisect_right(keyed, after, key=lambda pair: pair[0])
    page: list[tuple[tuple, dict]] = []
    more = False
    for i in range(start, len(keyed)):
        pair = keyed[i]
        if predicate is not None and not predicate(pair[1]):
            continue
        if len(page) == limit:
            more = True
            break
        page.append(pair)
    items = [project(view, names) for _, view in page]
    link = next_link(call, encode_token(kind, page[-1][0])) if more else None
    return items, link
