"""Recognising employees from the endpoints the switch rang (D4). Pure lookups.

Rules:
- The detector is given either a mapping ``endpoint -> employee`` (e.g.
  ``Catalog.employee_by_endpoint``; values may be names or objects with ``.name``) or a
  callable ``endpoint -> name | None``.
- A channel is matched by the candidates below, first hit wins: its Channel-Name as is
  (``sofia/internal/101@127.0.0.1:5072``), the same without the host
  (``sofia/internal/101``, so ``sofia/internal/101@pbx`` in the config matches), and
  ``user/<number>`` for the dialled number / the user part of the channel.
- Never raises on odd input: an unmatched endpoint is simply not an employee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EndpointLookup = Callable[[str], "str | None"] | Mapping[str, Any]


def _dehost(endpoint: str) -> str:
    at = endpoint.find("@")
    return endpoint[:at] if at > 0 else endpoint


def _user_part(endpoint: str) -> str | None:
    base = _dehost(endpoint)
    slash = base.rfind("/")
    user = base[slash + 1 :] if slash >= 0 else base
    return user or None


def _name_of(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "name", value)
    return str(name) if name else None


class EmployeeResolver:
    """``resolve(channel_name, number)`` -> employee name or None."""

    __slots__ = ("_index", "_lookup")

    def __init__(self, lookup: EndpointLookup | None) -> None:
        self._lookup: Callable[[str], str | None] | None = None
        self._index: dict[str, str] | None = None
        if lookup is None:
            self._index = {}
        elif isinstance(lookup, Mapping):
            index: dict[str, str] = {}
            for endpoint, value in lookup.items():
                name = _name_of(value)
                if name is None:
                    continue
                index.setdefault(endpoint, name)
                index.setdefault(_dehost(endpoint), name)
            self._index = index
        elif callable(lookup):
            fn = lookup
            self._lookup = lambda ep: _name_of(fn(ep))
        else:
            raise TypeError("endpoint_to_employee must be a mapping or a callable")

    def _one(self, candidate: str) -> str | None:
        if self._index is not None:
            return self._index.get(candidate)
        assert self._lookup is not None
        return self._lookup(candidate)

    def resolve(self, endpoint: str | None, number: str | None = None) -> str | None:
        candidates: list[str] = []
        if endpoint:
            candidates.append(endpoint)
            dehosted = _dehost(endpoint)
            if dehosted != endpoint:
                candidates.append(dehosted)
        if number:
            candidates.append(f"user/{number}")
        if endpoint:
            user = _user_part(endpoint)
            if user and user != number:
                candidates.append(f"user/{user}")
        for candidate in candidates:
            name = self._one(candidate)
            if name:
                return name
        return None
