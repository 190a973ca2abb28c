"""What an import would change, computed from two catalogs (pure)."""

from __future__ import annotations

from fsworker.core.catalog import Catalog
from fsworker.core.catalog_diff import diff_catalogs
from fsworker.core.model import Employee, Rule, Settings


def _rule(name: str, position: int, **kw: object) -> Rule:
    return Rule(name=name, strategy="last_attempted", position=position, **kw)  # type: ignore[arg-type]


def test_added_changed_removed_by_name() -> None:
    before = Catalog(employees=(Employee(name="anna", endpoints=("user/101",)),),
                     rules=(_rule("a", 0), _rule("b", 1)))
    after = Catalog(employees=(Employee(name="anna", endpoints=("user/102",)),
                               Employee(name="boris", endpoints=("user/103",))),
                    rules=(_rule("a", 0, intervals=(0, 60)),), settings=Settings(enabled=False))
    d = diff_catalogs(before, after)
    assert d.of("employees").added == ("boris",) and d.of("employees").changed == ("anna",)
    assert d.of("rules").changed == ("a",) and d.of("rules").removed == ("b",)
    assert d.master_switch == (True, False) and not d.rules_reordered and not d.empty


def test_a_new_order_is_one_change_not_a_change_of_every_rule() -> None:
    before = Catalog(rules=(_rule("a", 0), _rule("b", 1)))
    after = Catalog(rules=(_rule("b", 0), _rule("a", 1)))
    d = diff_catalogs(before, after)
    assert d.rules_reordered and d.of("rules").empty
    assert diff_catalogs(before, before).empty
