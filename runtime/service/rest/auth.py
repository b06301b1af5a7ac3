"""Batch shared-key authentication: the string a client signs, and the check of a request.

A Batch client signs every request with HMAC-SHA256 under the account key and sends
``Authorization: SharedKey <account>:<signature>``. The server rebuilds the same string from
the request as received and compares. The string is the one the official Python SDK builds
(azure-batch 15.x ``BatchSharedKeyAuthPolicy``; the older 14.x and ``az batch`` build the same):

    VERB
    content-encoding, content-language, content-length, content-md5, content-type, date,
    if-modified-since, if-match, if-none-match, if-unmodified-since, range   (one line each;
        an absent header is an empty line; a request other than GET/HEAD without a
        content-length signs "0")
    name:value\\n for every header whose name contains "ocp-", sorted by (name, value)
    /<account><path as sent, still percent-encoded>
    \\n<name>:<value> for each query parameter, names sorted as sent, first value only,
        values percent-decoded, parameters with an empty value left out

The path is signed as it was sent: a file path arrives as ``wd%2Fsub%20dir%2Fx.txt`` and is
signed so; a decoded path would not match. The Batch documentation's own rule lower-cases the
query names; the SDK does not (it sends ``timeOut``). A signature over either form is accepted
(they differ only when a name has upper-case letters), so clients that follow the documentation
work too.

The request's time is ``ocp-date`` (every SDK sends it) or else ``Date``; a request more than 15
minutes away from the server's clock is refused, so a captured request cannot be replayed later.
Every refusal is the service's error: 401 ``AuthenticationFailed`` without an Authorization
header, 400 ``InvalidAuthenticationInfo`` for one that is not ``SharedKey a:b``, 403
``AuthenticationFailed`` otherwise, with ``AuthenticationErrorDetail`` saying why.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
from email.utils import parsedate_to_datetime
from typing import Mapping
from urllib.parse import parse_qs

from ..errors import BatchError

__all__ = ["SIGNED_HEADERS", "MAX_SKEW", "string_to_sign", "sign", "AuthFailure", "verify"]

SIGNED_HEADERS = ("content-encoding", "content-language", "content-length", "content-md5",
                  "content-type", "date", "if-modified-since", "if-match", "if-none-match",
                  "if-unmodified-since", "range")
#: how far a request's date may be from the server's clock
MAX_SKEW = _dt.timedelta(minutes=15)


class AuthFailure(BatchError):
    """A refused authentication: a :class:`BatchError` whose HTTP status the REST layer takes
    from ``http_status_override`` (the table's ``AuthenticationFailed`` row is 403; a request
    with no credentials at all is answered 401, with a ``WWW-Authenticate`` header)."""

    def __init__(self, code: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(code, values=(("AuthenticationErrorDetail", detail),))
        if status is not None:
            self.status = status


def string_to_sign(method: str, raw_path: str, query_string: str,
                   headers: Mapping[str, str], account: str, *,
                   lower_query_names: bool = False) -> str:
    """The string the client signed (see the module docstring). ``headers``: lower-case names
    to values as received; ``raw_path``: the path exactly as sent; ``query_string``: the raw
    query, still percent-encoded."""
    values = {name: headers.get(name, "") for name in SIGNED_HEADERS}
    if method not in ("GET", "HEAD") and not values["content-length"]:
        values["content-length"] = "0"
    parts = [method, "\n", "\n".join(values[name] for name in SIGNED_HEADERS), "\n"]
    ocp = sorted((name, value) for name, value in headers.items() if "ocp-" in name and value)
    parts.extend(f"{name}:{value}\n" for name, value in ocp)
    parts.append(f"/{account}{raw_path}")
    query = parse_qs(query_string)
    if lower_query_names:
        lowered: dict[str, list[str]] = {}
        for name, found in query.items():
            lowered.setdefault(name.lower(), []).extend(found)
        query = lowered
    for name in sorted(query):
        value = query[name][0]
        if value:
            parts.append(f"\n{name}:{value}")
    return "".join(parts)


def sign(key: bytes, text: str) -> str:
    """The base64 HMAC-SHA256 of ``text`` under the decoded account key."""
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode()


def decode_key(key: str) -> bytes:
    """The account key's bytes; a key that is not base64 is a ``ValueError`` naming it so."""
    try:
        return base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("the account key must be base64 (as an Azure Batch key is)") from None


def _request_time(headers: Mapping[str, str]) -> _dt.datetime:
    text = headers.get("ocp-date") or headers.get("date")
    if not text:
        raise AuthFailure("AuthenticationFailed", "Request date header not specified")
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None or when.tzinfo is None:
        raise AuthFailure("AuthenticationFailed", f"Request date header is not a valid HTTP date: {text[:64]!r}")
    return when


def verify(method: str, raw_path: str, query_string: str, headers: Mapping[str, str], *,
           account: str, key: bytes, now: _dt.datetime) -> None:
    """Accept the request, or raise the :class:`AuthFailure` the service would answer."""
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthFailure("AuthenticationFailed",
                          "Server failed to authenticate the request. The request has no "
                          "Authorization header; sign it with the account's shared key.",
                          status=401)
    scheme, _, credential = authorization.partition(" ")
    name, colon, signature = credential.strip().rpartition(":")
    if scheme != "SharedKey" or not colon or not name or not signature:
        raise AuthFailure("InvalidAuthenticationInfo",
                          "The Authorization header must be 'SharedKey <account>:<signature>'.")
    if name != account:
        raise AuthFailure("AuthenticationFailed",
                          f"The account being accessed ({account!r}) does not match the account "
                          f"in the Authorization header ({name[:64]!r}).")
    when = _request_time(headers)
    if abs(now - when) > MAX_SKEW:
        raise AuthFailure("AuthenticationFailed",
                          f"Request date header too old or too far in the future: "
                          f"'{when:%a, %d %b %Y %H:%M:%S GMT}' is more than 15 minutes from "
                          f"the server's time '{now:%a, %d %b %Y %H:%M:%S GMT}'.")
    given = signature.encode("utf-8", "replace")
    sent = string_to_sign(method, raw_path, query_string, headers, account)
    documented = string_to_sign(method, raw_path, query_string, headers, account,
                                lower_query_names=True)
    for text in (sent, documented) if documented != sent else (sent,):
        if hmac.compare_digest(sign(key, text).encode(), given):
            return
    raise AuthFailure("AuthenticationFailed",
                      "The MAC signature found in the HTTP request is not the same as any "
                      "computed signature. Server used following string to sign: "
                      f"'{sent}'.")
