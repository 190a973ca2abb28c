"""What an import would change: the difference between two catalogs, by name.

Rules: pure; entries are matched by their key (name, or number for virtual numbers and
the blacklist) and compared whole, so "changed" means any field differs. A rule's
position is not a change of the rule; a different order of the rules both catalogs
keep is reported once, as ``rules_reordered``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fsworker.core.catalog import Catalog

#: collections in the order an export writes them
COLLECTIONS = ("employees", "groups", "campaigns", "scenarios", "virtual_numbers", "sites",
               "schedules", "blacklist", "rules")


@dataclass(frozen=True, kw_only=True, slots=True)
class CollectionDiff:
    name: str  #: e.g. "rules", "virtual_numbers"
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogDiff:
    collections: tuple[CollectionDiff, ...]
    rules_reordered: bool = False
    master_switch: tuple[bool, bool] | None = None  #: (before, after) when it changes

    @property
    def empty(self) -> bool:
        return all(c.empty for c in self.collections) and not self.rules_reordered and self.master_switch is None

    def of(self, name: str) -> CollectionDiff:
        return next(c for c in self.collections if c.name == name)


def key_of(item: Any) -> str:
    return str(getattr(item, "name", None) or item.number)


def _comparable(item: Any) -> Any:
    return dataclasses.replace(item, position=0) if hasattr(item, "position") else item


def _items(catalog: Catalog, name: str) -> list[Any]:
    return list(catalog.ordered_rules() if name == "rules" else getattr(catalog, name))


def diff_catalogs(before: Catalog, after: Catalog) -> CatalogDiff:
    parts = []
    for name in COLLECTIONS:
        old = {key_of(x): x for x in _items(before, name)}
        new = {key_of(x): x for x in _items(after, name)}
        parts.append(CollectionDiff(
            name=name,
            added=tuple(k for k in new if k not in old),
            changed=tuple(k for k in new if k in old and _comparable(new[k]) != _comparable(old[k])),
            removed=tuple(k for k in old if k not in new),
        ))
    kept_before = [key_of(r) for r in before.ordered_rules() if key_of(r) in {key_of(x) for x in after.rules}]
    kept_after = [key_of(r) for r in after.ordered_rules() if key_of(r) in set(kept_before)]
    switch = (before.settings.enabled, after.settings.enabled)
    return CatalogDiff(collections=tuple(parts), rules_reordered=kept_before != kept_after,
                       master_switch=switch if switch[0] != switch[1] else None)
