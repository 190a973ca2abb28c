"""Engine set-up: URL redaction, SQLite pragmas, psycopg2 under gevent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from fsworker.cli.main import main as cli_main
from fsworker.store import migrate
from fsworker.store.engine import make_engine, redact_url


def test_redact_url_hides_password() -> None:
    assert redact_url("postgresql://fsw:s3cret@db:5432/fsw") == "postgresql://fsw:***@db:5432/fsw"
    assert "s3cret" not in redact_url("postgresql://fsw:s3cret@db/fsw")


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    engine.dispose()


def test_cli_db_upgrade_and_current(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'sub' / 'cli.sqlite3'}"
    assert cli_main(["--db", url, "db", "upgrade"]) == 0
    assert migrate.current(url) == migrate.head()
    assert cli_main(["--db", url, "db", "current"]) == 0
    assert f"current {migrate.head()}" in capsys.readouterr().out
    assert cli_main(["--db", "postgresql://u:pw@127.0.0.1:1/x", "db", "current"]) == 4


GREEN_SCRIPT = """
import sys, gevent
from sqlalchemy import text
from fsworker.store.engine import make_engine, make_psycopg2_green
if sys.argv[2] == "green":
    make_psycopg2_green()
engine = make_engine(sys.argv[1])
ticks = []
def ticker():
    for _ in range(100):
        gevent.sleep(0.02)
        ticks.append(1)
def slow():
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(1.0)"))
t = gevent.spawn(ticker)
gevent.joinall([gevent.spawn(slow)])
print(len(ticks))
t.kill()
"""


def test_psycopg2_green_lets_other_greenlets_run(pg_url: str) -> None:
    def ticks(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", GREEN_SCRIPT, pg_url, mode], check=False, capture_output=True, text=True,
                             timeout=60, cwd=Path(__file__).resolve().parents[2])
        assert out.returncode == 0, out.stderr
        return int(out.stdout.strip().splitlines()[-1])

    # While one greenlet waits 1 s on PostgreSQL, the other keeps ticking (every 20 ms)
    # only when the wait callback is installed; without it the whole process blocks.
    assert ticks("plain") <= 1
    assert ticks("green") >= 10


OFF_HUB_SCRIPT = """
import sqlite3, sys, time
import gevent
from fsworker.store import migrate
from fsworker.store.offhub import run_sqlite_off_hub
from fsworker.store.queue import TaskQueue

path = sys.argv[1]
url = "sqlite:///" + path
migrate.upgrade(url)
if sys.argv[2] == "off-hub":
    run_sqlite_off_hub()
queue = TaskQueue(url)
other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
other.execute("BEGIN EXCLUSIVE")  # another process's import or backup
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(time.monotonic()) or gevent.sleep(0.05) for _ in range(100)])
waiting = gevent.spawn(queue.counts)
gevent.sleep(0.01)
started = time.monotonic()
gevent.spawn_later(1.0, other.execute, "COMMIT")
counts = waiting.get(timeout=15)
ticker.kill()
during = [t for t in ticks if started <= t <= started + 0.9]
print(len(during), counts.pending)
"""


def test_sqlite_waits_on_a_lock_off_the_hub(tmp_path: Path) -> None:
    """With ``run_sqlite_off_hub`` a store call waiting on another connection's lock
    lets every other greenlet run. (Without it the hub stands still for the whole busy
    timeout: the COMMIT scheduled here would never run and the call would fail.)"""
    def run(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", OFF_HUB_SCRIPT, str(tmp_path / f"{mode}.sqlite3"), mode],
                             capture_output=True, text=True, timeout=60, check=True)
        ticks, pending = out.stdout.split()
        assert pending == "0"
        return int(ticks)

    assert run("off-hub") >= 10  # ~18 ticks of 50 ms in 0.9 s


def test_the_health_ping_does_not_wait_for_a_writer(db_url: str) -> None:
    """/healthz reads while another process holds the write lock (SQLite) or a lock on
    the settings row (PostgreSQL): answered at once, not after the 10 s busy timeout."""
    import time

    import pytest

    from fsworker.store.errors import StoreError
    from fsworker.store.queue import TaskQueue

    migrate.upgrade(db_url)
    writer = make_engine(db_url)
    queue = TaskQueue(db_url)
    try:
        with writer.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the write lock held
            conn.execute(text("UPDATE settings SET enabled = enabled WHERE id = 1"))
            started = time.monotonic()
            queue.ping(timeout_s=2)
            assert time.monotonic() - started < 1.0
    finally:
        writer.dispose()
        queue.close()
    empty = db_url.rsplit("/", 1)[0] + "/nothing-here.sqlite3" if db_url.startswith("sqlite") else None
    if empty is not None:  # a file without the schema is not a healthy database
        with pytest.raises(StoreError):
            TaskQueue(empty).ping()
