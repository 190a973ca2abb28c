"""Log output as configured in ``[log]``: level and text or JSON lines.

Rules: only the entry points call this; library modules just use
``logging.getLogger(__name__)``. A command-line ``-v`` wins over the file's level.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from fsworker.config.settings import LogConfig


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def apply_log_config(config: LogConfig, *, verbosity: int = 0) -> None:
    root = logging.getLogger()
    if verbosity <= 0:
        root.setLevel(config.level)
    # Alembic says "Context impl SQLiteImpl." at INFO on every schema check: noise to an
    # operator at the service's INFO level; -vv (debug) shows it.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    if config.format.value == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
