"""URLs as they may be shown: in a repr, a log line, an error message, a CLI's output.

Rules: a database URL is parsed with SQLAlchemy's ``make_url`` (what the store will
connect with) and rendered with its password as ``***``. When the user-info part is
ambiguous — an unencoded '@' or '/' in a password — everything before the last '@' of
the authority is treated as secret, so no part of a password ever shows. An http(s)
URL is shown as scheme://host[:port]/path: user-info becomes ``***@`` and the query
and fragment (where tokens travel) ``?***``. Pure; no I/O; never raises.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

UNPARSABLE = "<unparsable URL>"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def ambiguous_userinfo(url: str) -> bool:
    """True when ``make_url`` would take part of a password for the host: an '@' left
    in the host means the password held an unencoded '@' (write it as %40)."""
    try:
        host = make_url(url).host
    except Exception:  # noqa: BLE001 - whatever make_url rejects is not ambiguous, it is invalid
        return False
    return host is not None and "@" in host


def redact_db_url(url: object) -> str:
    """``url`` with its password replaced by ``***`` (see the module rules)."""
    if not isinstance(url, str):
        return UNPARSABLE
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL must still not leak a password
        return _scheme_only(url)
    if parsed.host is not None and "@" in parsed.host:
        # "u:p@ss9@h": make_url reads password "p", host "ss9@h"; hide up to the last '@'
        parsed = parsed.set(host=parsed.host.rsplit("@", 1)[1], password="x")
    return parsed.render_as_string(hide_password=True)


def redact_http_url(url: object) -> str:
    """An http(s) URL without credentials, query or fragment (see the module rules)."""
    if not isinstance(url, str):
        return UNPARSABLE
    m = _SCHEME.match(url)
    if m is None:
        return UNPARSABLE
    rest = url[m.end():]
    tail = ""
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        rest, tail = rest[:cut], "?***"
    if "@" in rest:
        # the last '@' before the query ends any user-info, even one holding '/' or '@'
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{m.group(0)}{rest}{tail}"


def _scheme_only(url: str) -> str:
    m = _SCHEME.match(url)
    return f"{m.group(0)}{UNPARSABLE}" if m else UNPARSABLE
