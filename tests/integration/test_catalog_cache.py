"""The service's configuration snapshot: re-read only when the store's configuration
version moved (migration 0008), on both databases."""

from __future__ import annotations

import gevent
from sqlalchemy import text

from fsworker.service.app import CatalogCache
from fsworker.store.repo import Repository
from tests.integration.helpers import rule, seed_people


def _aged(cache: CatalogCache) -> None:
    """Ask once the snapshot has aged, and let the background refresh run."""
    gevent.sleep(0.002)
    cache()
    gevent.sleep(0.05)


def test_an_aged_snapshot_is_kept_until_the_configuration_changes(repo: Repository) -> None:
    seed_people(repo)
    repo.add_rule(rule("r"))
    cache = CatalogCache(repo, ttl_s=0.0)
    first = cache()
    assert cache.loads == 1
    for _ in range(3):
        _aged(cache)
    assert cache.loads == 1 and cache() is first  # nothing changed: not re-read
    repo.add_rule(rule("s"))
    _aged(cache)
    assert cache.loads == 2 and [r.name for r in cache().rules] == ["r", "s"]
    with repo.engine.begin() as conn:  # plain SQL from another connection is seen too
        conn.execute(text("DELETE FROM blacklist"))
        conn.execute(text("UPDATE employees SET name = name"))
    _aged(cache)
    assert cache.loads == 3
    repo.set_master_switch(False)
    _aged(cache)
    assert cache.loads == 4 and cache().settings.enabled is False
