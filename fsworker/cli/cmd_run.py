"""``fsworker run``: the service — watch the switches, take lost calls in, call back.

Rules: gevent must patch the standard library before anything opens a socket, so the
patching happens first thing in the handler (and the console script imports nothing
network-related before). SIGTERM / SIGINT stop claiming, let attempts in flight finish
within ``worker.shutdown_grace_s`` and release the rest.
"""

from __future__ import annotations

import argparse
import logging
import signal

from fsworker.cli.main import EXIT_OK, EXIT_UNAVAILABLE

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run the callback service (switches, intake, workers, metrics)")
    p.add_argument("--workers", type=int, default=None, help="worker greenlets (overrides worker.workers)")
    p.add_argument("--no-metrics", action="store_true", help="do not serve /metrics and /healthz")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gevent import monkey

    monkey.patch_all()
    import dataclasses

    import gevent

    from fsworker.cli.common import database_url, ensure_schema
    from fsworker.cli.logsetup import apply_log_config
    from fsworker.config.settings import DatabaseConfig, load_config
    from fsworker.service.app import Service
    from fsworker.store import make_psycopg2_green
    from fsworker.store.errors import StoreUnavailableError
    from fsworker.store.offhub import run_sqlite_off_hub

    config = load_config(args.config)
    apply_log_config(config.log, verbosity=args.verbose)
    if args.db:
        config = dataclasses.replace(config, database=DatabaseConfig(url=database_url(args)))
    if args.workers is not None:
        config = dataclasses.replace(config, worker=dataclasses.replace(config.worker, workers=args.workers))
    make_psycopg2_green()
    run_sqlite_off_hub()
    try:
        # an existing SQLite database is migrated, a missing one refused (so a service
        # started in the wrong directory does not run on a new, empty database);
        # PostgreSQL is checked
        ensure_schema(config.database.url, number_region=config.numbers.region)
    except StoreUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_UNAVAILABLE
    service = Service(config)
    stop = gevent.event.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)
    service.start(metrics=not args.no_metrics)
    log.info("fsworker running: nodes %s, %d workers", ", ".join(n.name for n in service.nodes),
             config.worker.workers)
    stop.wait()
    log.info("stopping (grace %.0fs)", config.worker.shutdown_grace_s)
    service.stop()
    return EXIT_OK
