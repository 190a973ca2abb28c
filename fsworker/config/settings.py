"""The process configuration: one TOML file (``fsworker.toml``) -> frozen dataclasses.

Rules: this module owns *how fsworker runs* (database, switches, workers, TTS, metrics,
webhooks, logging); *what it does* (rules, employees, schedules...) lives in the
database and is handled by the CLI. Secrets never live in the file: a node names the
environment variable that holds its ESL password (``password_env``), a webhook the one
that holds its signing secret (``secret_env``); a literal ``password``/``secret`` key is
refused, and no repr, log line or problem message ever contains a secret's value.
Loading is strict: unknown keys are errors (with a did-you-mean), and ``check_config``
reports *every* problem with its place (``node[1].port: 70000 is invalid: 1..65535``)
instead of stopping at the first. The dataclasses validate themselves on construction.

Where the file is found (``load_config(None)``): ``$FSWORKER_CONFIG``, else
``./fsworker.toml`` if it exists, else built-in defaults. ``$FSWORKER_DB_URL``, when
set, replaces ``database.url`` (so a systemd unit or a container can inject it). A
relative SQLite path, written in a file or the default under one, is relative to that
file's folder: every command then opens the service's database, wherever it is run from.
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsworker.core.errors import ConfigError, ValidationError
from fsworker.core.numbering import DialNumberFormat, NumberPlan
from fsworker.core.numbers import validate_endpoint, validate_number
from fsworker.core.webhook_target import TargetRefused, check_host, parse_host
from fsworker.store.redact import ambiguous_userinfo, redact_db_url, redact_http_url

ENV_CONFIG = "FSWORKER_CONFIG"
ENV_DB_URL = "FSWORKER_DB_URL"
DEFAULT_PATH = Path("fsworker.toml")
# Relative to the working directory: the repo for `make demo`, /var/lib/fsworker under
# the shipped systemd unit (WorkingDirectory=). Absolute paths need four slashes.
DEFAULT_DB_URL = "sqlite:///./var/fsworker.sqlite3"
DEFAULT_PASSWORD_ENV = "FSWORKER_ESL_PASSWORD"

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_IDENT_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_HOST_RE = re.compile(r"[A-Za-z0-9_.\-:]{1,253}")
# TTS engine/voice/language end up in `speak engine|voice|text`: no '|', no spaces.
_TTS_TOKEN_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


# --- value converters: (value, place) -> value, raising ValidationError ----------------

Conv = Callable[[Any, str], Any]


def _int(lo: int, hi: int) -> Conv:
    def conv(v: Any, place: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValidationError(place, v, f"an integer {lo}..{hi}")
        return v

    return conv


def _float(lo: float, hi: float) -> Conv:
    def conv(v: Any, place: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise ValidationError(place, v, f"a number of seconds {lo:g}..{hi:g}")
        return float(v)

    return conv


def _str(regex: re.Pattern[str], limit: str, optional: bool = False) -> Conv:
    def conv(v: Any, place: str) -> str | None:
        if v is None and optional:
            return None
        if not isinstance(v, str) or not regex.fullmatch(v):
            raise ValidationError(place, v, limit)
        return v

    return conv


def _enum(cls: type[enum.Enum]) -> Conv:
    def conv(v: Any, place: str) -> Any:
        try:
            return cls(v)
        except ValueError:
            raise ValidationError(place, v, f"one of {', '.join(m.value for m in cls)}") from None

    return conv


def _env_name(optional: bool = False) -> Conv:
    return _str(_ENV_NAME_RE, "an environment variable name (letters, digits, _)", optional)


def _any_str(v: Any, place: str) -> str:
    if not isinstance(v, str):
        raise ValidationError(place, v, "a string")
    return v


def _spec(default: Any = MISSING, conv: Conv = _any_str, doc: str = "", **kw: Any) -> Any:
    """A dataclass field that also carries its converter and its documentation."""
    meta = {"conv": conv, "doc": doc}
    if default is MISSING:
        return field(metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


def _validate_fields(obj: Any, section: str) -> None:
    """Run every field's converter, so a section built in code is checked (and its
    enums coerced) exactly like one read from the file."""
    for f in fields(obj):
        conv = f.metadata.get("conv")
        if conv is not None:
            object.__setattr__(obj, f.name, conv(getattr(obj, f.name), f"{section}.{f.name}"))


# --- sections -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DatabaseConfig:
    url: str = _spec(DEFAULT_DB_URL, doc="sqlite:///path (a relative path is relative to the configuration "
                                         "file's folder) or postgresql://user@host/db")

    def __post_init__(self) -> None:
        _validate_fields(self, "database")
        scheme = self.url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValidationError("database.url", _redact_url(self.url), "a sqlite:/// or postgresql:// URL")
        if ambiguous_userinfo(self.url):
            raise ValidationError("database.url", _redact_url(self.url),
                                  "an '@' in the user name or password must be written %40")
        if scheme == "postgres":
            # libpq (psql, Heroku-style DATABASE_URL) takes postgres://; SQLAlchemy does not
            object.__setattr__(self, "url", "postgresql" + self.url[len("postgres"):])

    def anchored(self, folder: Path) -> DatabaseConfig:
        """This database with a relative SQLite path made absolute against ``folder``
        (the configuration file's), so every command from any directory opens the same
        file as the service."""
        path = self.sqlite_path
        if path is None or path.is_absolute():
            return self
        query = self.url.partition("?")[1:]
        return DatabaseConfig(url=f"sqlite:///{(folder / path).resolve()}{''.join(query)}")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a SQLite URL (so the store can create its directory)."""
        if not self.url.startswith("sqlite:///"):
            return None
        path = self.url[len("sqlite:///"):].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    def __repr__(self) -> str:
        # a PostgreSQL URL may carry a password
        return f"DatabaseConfig(url={_redact_url(self.url)!r})"


class ConfigNotFoundError(ConfigError):
    """The configuration file named by --config or $FSWORKER_CONFIG does not exist."""

    exit_code = 3  #: "not found", as for a missing rule or task


def _redact_url(url: str) -> str:
    return redact_db_url(url)


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeConfig:
    """One FreeSWITCH Event Socket to connect to."""

    name: str = _spec("default", _str(_IDENT_RE, "letters, digits, . _ - (1..64)"),
                      doc="stable node name (metrics label, lost_call.node)")
    host: str = _spec("127.0.0.1", _str(_HOST_RE, "a host name or IP address"), doc="ESL host")
    port: int = _spec(8021, _int(1, 65535), doc="ESL port")
    password_env: str = _spec(DEFAULT_PASSWORD_ENV, _env_name(),
                              doc="environment variable holding the ESL password")
    connect_timeout_s: float = _spec(5.0, _float(0.1, 120), doc="TCP connect + auth timeout")
    command_timeout_s: float = _spec(10.0, _float(0.1, 600), doc="api/bgapi reply timeout")
    idle_timeout_s: float = _spec(60.0, _float(0.5, 3600),
                                  doc="no complete frame for this long (HEARTBEAT comes every 20 s): probe with "
                                      "api status; no reply within min(command_timeout_s, this) -> link reopened")
    max_event_headers: int = _spec(2000, _int(100, 100_000),
                                   doc="an event with more headers is dropped, logged and counted; the link stays")
    event_backlog_mib: int = _spec(32, _int(1, 4096),
                                   doc="wire bytes of events waiting for or in their handlers; past it, "
                                       "reading pauses (TCP pushes back), nothing is dropped")
    failover: bool = _spec(False, lambda v, p: _bool(v, p),  # noqa: PLW0108 - _bool is defined below
                           doc="callbacks of calls lost on this node may go out through another node while it "
                               "is down (only if every node reaches the same phones and gateways)")

    def __post_init__(self) -> None:
        _validate_fields(self, "node")

    def password(self, environ: Mapping[str, str] | None = None) -> str:
        """The ESL password from the environment; ConfigError (naming the variable,
        never a value) when it is not set."""
        env = os.environ if environ is None else environ
        value = env.get(self.password_env)
        if not value:
            raise ConfigError(
                f"node {self.name!r}: environment variable {self.password_env} "
                "(password_env) is not set or empty"
            )
        return value


class CallerIdPolicy(enum.StrEnum):
    """Which number the customer's phone shows for a callback (D2)."""

    VIRTUAL_NUMBER = "virtual_number"  #: the company number the customer dialled
    FIXED = "fixed"  #: always callback.caller_id_number


class EmployeeCallerIdPolicy(enum.StrEnum):
    """Which number the employee's phone shows when the callback rings it (D2)."""

    CUSTOMER = "customer"  #: the customer's number (the employee sees whom they will call)
    FIXED = "fixed"  #: always callback.caller_id_number


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerConfig:
    workers: int = _spec(4, _int(1, 5000), doc="concurrent callback attempts per process")
    lease_s: int = _spec(120, _int(10, 3600), doc="task lease; a dead worker's tasks return after it")
    poll_interval_s: float = _spec(1.0, _float(0.05, 60), doc="the longest an idle worker sleeps without looking for due tasks "
                                   "(it wakes at the next due time and on task changes)")
    shutdown_grace_s: int = _spec(30, _int(0, 600), doc="on SIGTERM, time to let calls in flight end")
    worker_id: str | None = _spec(None, _str(_IDENT_RE, "letters, digits, . _ - (1..64)", optional=True),
                                  doc="identity in leases; default <hostname>-<pid>")

    def __post_init__(self) -> None:
        _validate_fields(self, "worker")
        if self.lease_s <= self.poll_interval_s * 2:
            raise ValidationError("worker.lease_s", self.lease_s, "more than twice worker.poll_interval_s")

    def effective_worker_id(self) -> str:
        return self.worker_id or f"{socket.gethostname()}-{os.getpid()}"


_TEMPLATE_LIMIT = "a FreeSWITCH endpoint containing {number} once, e.g. sofia/gateway/pstn/{number}"


def _dial_template(v: Any, place: str) -> str:
    if not isinstance(v, str) or v.count("{number}") != 1 or v.replace("{number}", "").count("{") \
            or "}" in v.replace("{number}", ""):
        raise ValidationError(place, v, _TEMPLATE_LIMIT)
    try:
        validate_endpoint(v.replace("{number}", "79160000000"), place)
    except ValidationError:
        raise ValidationError(place, v, _TEMPLATE_LIMIT) from None
    return v


def _number_or_none(v: Any, place: str) -> str | None:
    return None if v is None else validate_number(v, place)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackConfig:
    min_talk_s: int = _spec(5, _int(0, 600),
                            doc="talk shorter than this is not a success (voicemail that drops at once)")
    employee_ring_timeout_s: int = _spec(30, _int(5, 300), doc="how long the employee leg rings")
    customer_ring_timeout_s: int = _spec(40, _int(5, 300), doc="how long the customer leg rings")
    switch_shutdown_wait_s: float = _spec(
        5.0, _float(0, 60),
        doc="after an employee originate fails with DESTINATION_OUT_OF_ORDER (a stopping switch "
            "refuses calls so for ~2 s before it drops the link), how long the link is watched for "
            "that drop: if it comes, the attempt is given back uncounted; 0 counts it at once")
    customer_dial_template: str = _spec("sofia/gateway/pstn/{number}", _dial_template,
                                        doc="endpoint that dials a customer number")
    external_number_template: str = _spec("sofia/gateway/pstn/{number}", _dial_template,
                                          doc="endpoint for number targets (strategy number, campaigns)")
    caller_id: CallerIdPolicy = _spec(CallerIdPolicy.VIRTUAL_NUMBER, _enum(CallerIdPolicy),  # noqa: RUF009 - a field spec
                                      doc="what the customer sees: virtual_number | fixed")
    employee_caller_id: EmployeeCallerIdPolicy = _spec(  # noqa: RUF009 - a field spec
        EmployeeCallerIdPolicy.CUSTOMER, _enum(EmployeeCallerIdPolicy),
        doc="what the employee sees: customer | fixed")
    caller_id_number: str | None = _spec(None, _number_or_none,
                                         doc="company number for fixed, and when the DID is unknown")
    dial_number_format: DialNumberFormat = _spec(  # noqa: RUF009 - a field spec
        DialNumberFormat.E164, _enum(DialNumberFormat),
        doc="how numbers are written to the switch (dial strings, caller IDs): "
            "e164 | international_digits | national; needs [numbers] region")

    def __post_init__(self) -> None:
        _validate_fields(self, "callback")
        fixed = CallerIdPolicy.FIXED in (self.caller_id, self.employee_caller_id)
        if fixed and self.caller_id_number is None:
            raise ValidationError("callback.caller_id_number", None, "required when a caller_id policy is fixed")

    def customer_endpoint(self, number: str) -> str:
        """The dial-string endpoint for a customer number (validated, D5)."""
        return self.customer_dial_template.replace("{number}", validate_number(number, "customer_number"))

    def external_endpoint(self, number: str) -> str:
        return self.external_number_template.replace("{number}", validate_number(number, "number"))


def _region(v: Any, place: str) -> str | None:
    if v is None:
        return None
    try:
        NumberPlan(region=v)
    except ValidationError as exc:
        raise ValidationError(place, v, exc.limit) from None
    return str(v)


@dataclass(frozen=True, kw_only=True, slots=True)
class NumbersConfig:
    region: str | None = _spec(None, _region,
                               doc="ISO 3166 alpha-2 country (e.g. \"RU\"): numbers become E.164; "
                                   "unset: taken as written")

    def __post_init__(self) -> None:
        _validate_fields(self, "numbers")

    @property
    def plan(self) -> NumberPlan:
        return NumberPlan(region=self.region)


@dataclass(frozen=True, kw_only=True, slots=True)
class TtsConfig:
    engine: str = _spec("flite", _str(_TTS_TOKEN_RE, "a TTS module name: flite, tts_commandline, unimrcp..."),
                        doc="FreeSWITCH TTS module used by speak")
    voice: str = _spec("slt", _str(_TTS_TOKEN_RE, "a voice name without spaces or '|'"), doc="voice")
    language: str = _spec("ru", _str(_TTS_TOKEN_RE, "a language tag such as ru or en-US"),
                          doc="language of the default hint and templates")

    def __post_init__(self) -> None:
        _validate_fields(self, "tts")


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricsConfig:
    enabled: bool = _spec(True, lambda v, p: _bool(v, p), doc="serve /metrics and /healthz")  # noqa: PLW0108 - _bool is defined below
    listen: str = _spec("127.0.0.1:9464", lambda v, p: (_listen(v, p), v)[1],
                        doc="host:port to serve on ([::1]:9464 for IPv6)")

    def __post_init__(self) -> None:
        _validate_fields(self, "metrics")

    @property
    def address(self) -> tuple[str, int]:
        return _listen(self.listen, "metrics.listen")


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiConfig:
    token_env: str = _spec("FSWORKER_API_TOKEN", _env_name(),
                           doc="environment variable holding the callbacks API's bearer token; unset or empty = API off")

    def __post_init__(self) -> None:
        _validate_fields(self, "api")

    def token(self) -> str | None:
        """The bearer token, read from the environment now (never stored in the config)."""
        return os.environ.get(self.token_env) or None


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleConfig:
    password_env: str = _spec("FSWORKER_CONSOLE_PASSWORD", _env_name(),
                              doc="environment variable holding the console's login password; unset or empty = console off")
    listen: str = _spec("127.0.0.1:9465", lambda v, p: (_listen(v, p), v)[1],
                        doc="host:port of the supervisor's console (loopback unless you mean otherwise)")

    def __post_init__(self) -> None:
        _validate_fields(self, "console")

    @property
    def address(self) -> tuple[str, int]:
        return _listen(self.listen, "console.listen")

    def password(self) -> str | None:
        """The login password, read from the environment now (never stored in the config)."""
        return os.environ.get(self.password_env) or None
# Where hint sound files may be played from: FreeSWITCH's packaged sounds and
# fsworker's own folder (a switch built from source keeps them in /usr/local/freeswitch/sounds).
DEFAULT_SOUND_DIRS = ("/usr/share/freeswitch/sounds/", "/var/lib/fsworker/hints/")


def _sound_dirs(v: Any, place: str) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise ValidationError(place, v, "a list of absolute directories, e.g. [\"/usr/local/freeswitch/sounds/\"]")
    dirs = []
    for i, d in enumerate(v):
        # the path is compared as text against the file's: no '..' to climb out through
        if not isinstance(d, str) or not d.startswith("/") or "/../" in f"{d}/" or not _SOUND_DIR_RE.fullmatch(d):
            raise ValidationError(f"{place}[{i}]", d, "an absolute directory such as /usr/local/freeswitch/sounds/")
        dirs.append(d if d.endswith("/") else d + "/")
    return tuple(dirs)


_SOUND_DIR_RE = re.compile(r"[\w./\-+@:]{1,250}")


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptsConfig:
    sound_dirs: tuple[str, ...] = _spec(DEFAULT_SOUND_DIRS, _sound_dirs,
                                        doc="directories a file hint (--hint-file) may be played from")
    # A render runs in the worker's only thread and never yields: these bound how long
    # one hostile or careless template can hold every call of the process.
    render_cpu_ms: float = _spec(20.0, _float(0.1, 1000), doc="CPU time one hint render may use")
    render_wall_ms: float = _spec(100.0, _float(0.1, 10_000),
                                  doc="elapsed time one hint render may take (at least render_cpu_ms)")
    render_max_chars: int = _spec(4000, _int(1, 100_000), doc="characters one hint render may produce")

    def __post_init__(self) -> None:
        _validate_fields(self, "prompts")
        if self.render_wall_ms < self.render_cpu_ms:
            raise ValidationError("prompts.render_wall_ms", self.render_wall_ms,
                                  f"at least prompts.render_cpu_ms ({self.render_cpu_ms:g})")


def _zone_name(v: Any, place: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str) and v:
        try:
            ZoneInfo(v)
            return v
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ValidationError(place, v, "an IANA time zone such as Europe/Moscow or UTC")


@dataclass(frozen=True, kw_only=True, slots=True)
class DisplayConfig:
    timezone: str | None = _spec(None, _zone_name, doc="time zone the CLI shows times in (default: the "
                                                       "machine's; --utc overrides)")

    def __post_init__(self) -> None:
        _validate_fields(self, "display")


def _bool(v: Any, place: str) -> bool:
    if not isinstance(v, bool):
        raise ValidationError(place, v, "true or false")
    return v


def _listen(v: Any, place: str) -> tuple[str, int]:
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})", v) if isinstance(v, str) else None
    # Port 0 asks the OS for a free port (tests, the demo); the server reports the real one.
    if m is None or not 0 <= int(m.group(2)) <= 65535:
        raise ValidationError(place, v, "host:port with port 0..65535, e.g. 127.0.0.1:9464 or [::1]:9464")
    return m.group(1).strip("[]"), int(m.group(2))


class WebhookEvent(enum.StrEnum):
    """Events a webhook can subscribe to (see fsworker.service.webhooks for the documents)."""

    LOST_CALL_DETECTED = "lost_call.detected"
    TASK_CREATED = "task.created"
    TASK_SKIPPED = "task.skipped"
    TASK_ENDED = "task.ended"


def _webhook_url(v: Any, place: str) -> str:
    if isinstance(v, str) and "@" in re.split(r"[?#]", v, maxsplit=1)[0]:
        # URLs are logged; credentials in them would leak. Signing is what proves origin.
        # Any '@' before the query counts: "https://user:p/w@host/" hides one behind a '/'.
        raise ValidationError(place, redact_http_url(v),
                              "no user:password@ in the URL (write an '@' in the path as %40); use secret_env")
    parts = urlsplit(v) if isinstance(v, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValidationError(place, v if not isinstance(v, str) else redact_http_url(v), "an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 - raises for a port that is not 0..65535
    except ValueError:
        raise ValidationError(place, redact_http_url(v), "an http:// or https:// URL with a port 1..65535") from None
    return v


def _events(v: Any, place: str) -> tuple[WebhookEvent, ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise ValidationError(place, v, f"a non-empty list of: {', '.join(e.value for e in WebhookEvent)}")
    out = []
    for i, e in enumerate(v):
        out.append(_enum(WebhookEvent)(e, f"{place}[{i}]"))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookConfig:
    url: str = _spec(conv=_webhook_url, doc="http(s) URL the JSON document is POSTed to (required)")
    secret_env: str | None = _spec(None, _env_name(optional=True),
                                   doc="environment variable holding the HMAC-SHA256 secret")
    events: tuple[WebhookEvent, ...] = _spec(tuple(WebhookEvent), _events, doc="events to send; default all")
    timeout_s: float = _spec(5.0, _float(0.1, 60), doc="per-request timeout")
    retries: int = _spec(5, _int(0, 20), doc="retries after the first failure (capped exponential back-off)")
    allow_private: bool = _spec(False, lambda v, p: _bool(v, p),  # noqa: PLW0108 - _bool is defined above
                                doc="allow loopback and private-range targets (never link-local or metadata)")

    def __post_init__(self) -> None:
        _validate_fields(self, "webhook")
        try:
            check_host(urlsplit(self.url).hostname or "", allow_private=self.allow_private)
        except TargetRefused as exc:
            raise ValidationError("webhook.url", redact_http_url(self.url), exc.reason) from None

    def __repr__(self) -> str:
        # a query string often carries the receiver's token
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "url")
        return f"WebhookConfig(url={redact_http_url(self.url)!r}, {shown})"

    def secret(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        if self.secret_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.secret_env)
        if not value:
            raise ConfigError(f"webhook {redact_http_url(self.url)!r}: environment variable {self.secret_env} "
                              "(secret_env) is not set")
        return value.encode()


class LogFormat(enum.StrEnum):
    TEXT = "text"  #: human-readable lines (journald adds the time)
    JSON = "json"  #: one JSON object a line, for log shippers


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(v: Any, place: str) -> str:
    if not isinstance(v, str) or v.upper() not in _LEVELS:
        raise ValidationError(place, v, f"one of {', '.join(_LEVELS)}")
    return v.upper()


@dataclass(frozen=True, kw_only=True, slots=True)
class LogConfig:
    level: str = _spec("INFO", _level, doc="DEBUG | INFO | WARNING | ERROR | CRITICAL")
    format: LogFormat = _spec(LogFormat.TEXT, _enum(LogFormat), doc="text | json")  # noqa: RUF009 - a field spec

    def __post_init__(self) -> None:
        _validate_fields(self, "log")


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    nodes: tuple[NodeConfig, ...] = (NodeConfig(),)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    callback: CallbackConfig = field(default_factory=CallbackConfig)
    numbers: NumbersConfig = field(default_factory=NumbersConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    webhooks: tuple[WebhookConfig, ...] = ()
    log: LogConfig = field(default_factory=LogConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    source: Path | None = None  #: the file it was read from; None = built-in defaults

    def node(self, name: str) -> NodeConfig:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


# TOML table name -> (Config field, section class, is an array of tables)
SECTIONS: dict[str, tuple[str, type, bool]] = {
    "database": ("database", DatabaseConfig, False),
    "node": ("nodes", NodeConfig, True),
    "worker": ("worker", WorkerConfig, False),
    "callback": ("callback", CallbackConfig, False),
    "numbers": ("numbers", NumbersConfig, False),
    "tts": ("tts", TtsConfig, False),
    "metrics": ("metrics", MetricsConfig, False),
    "api": ("api", ApiConfig, False),
    "console": ("console", ConsoleConfig, False),
    "webhook": ("webhooks", WebhookConfig, True),
    "log": ("log", LogConfig, False),
    "prompts": ("prompts", PromptsConfig, False),
    "display": ("display", DisplayConfig, False),
}

# Keys refused with a specific explanation instead of "unknown key".
_SECRET_KEYS = {
    "password": "a password must not be written in the configuration file: put it in an "
                "environment variable (e.g. an EnvironmentFile of the systemd unit) and name "
                "that variable here with password_env = \"FSWORKER_ESL_PASSWORD\"",
    "secret": "a secret must not be written in the configuration file: put it in an "
              "environment variable and name it with secret_env = \"FSWORKER_WEBHOOK_SECRET\"",
}


__all__ = [
    "ApiConfig", "CallbackConfig", "CallerIdPolicy", "Config", "ConfigNotFoundError", "ConsoleConfig", "DatabaseConfig",
    "DisplayConfig", "PromptsConfig", "EmployeeCallerIdPolicy",
    "LogConfig", "LogFormat", "MetricsConfig", "NodeConfig", "NumbersConfig", "Problem", "Severity", "TtsConfig",
    "WebhookConfig", "WebhookEvent", "WorkerConfig", "check_config", "load_config",
    "parse_config", "reference_rows", "resolve_path",
]


def resolve_path(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Which file ``load_config(path)`` reads: the argument, $FSWORKER_CONFIG,
    ./fsworker.toml if it exists, or None (built-in defaults)."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_PATH if DEFAULT_PATH.is_file() else None


def parse_config(text: str, *, source: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Config:
    """Build a Config from TOML text; ConfigError listing every error otherwise."""
    cfg, problems = build_config(text, source=source, environ=environ)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or cfg is None:
        where = str(source) if source else "configuration"
        raise ConfigError(f"{where}: {len(errors)} problem(s):\n" + "\n".join(f"  {p}" for p in errors))
    return cfg


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration (see the module docstring for where from).

    Raises ConfigError for a missing/unreadable file or any error in it. Secrets are not
    resolved here (``NodeConfig.password()`` does it when connecting), so CLI commands
    that need only the database work without the ESL password in their environment.
    """
    env = os.environ if environ is None else environ
    file = resolve_path(path, env)
    if file is None:
        cfg = Config()
        if env.get(ENV_DB_URL):
            cfg = replace(cfg, database=_db_from_env(env[ENV_DB_URL]))
        return cfg
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigNotFoundError(f"{file}: no such configuration file; give the right path with "
                                  f"--config or ${ENV_CONFIG}, or start from fsworker.example.toml") from exc
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text: {exc.reason}") from exc
    return parse_config(text, source=file, environ=env)


def _db_from_env(url: str) -> DatabaseConfig:
    try:
        return DatabaseConfig(url=url)
    except ValidationError as exc:
        raise ConfigError(f"${ENV_DB_URL}: {exc}") from exc


def _fields(cls: type) -> dict[str, Any]:
    return {f.name: f for f in fields(cls) if "conv" in f.metadata}


# --- building and checking ---------------------------------------------------------------


class Severity(enum.StrEnum):
    ERROR = "error"  #: the file is refused
    WARNING = "warning"  #: accepted, but probably not what was meant (or unsafe)


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong in a configuration file, with its place (``node[1].port``)."""

    place: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{prefix}{self.place}: {self.message}"

    @classmethod
    def from_error(cls, exc: ValidationError) -> Problem:
        return cls(place=exc.field, message=exc.problem)


def _unknown(key: str, known: list[str], place: str) -> Problem:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return Problem(place=place, message=f"unknown key {key!r}{hint}")


def _build_section(cls: type, table: Any, place: str, problems: list[Problem]) -> Any:
    if not isinstance(table, dict):
        problems.append(Problem(place=place, message=f"must be a table ([{place.split('[')[0]}])"))
        return None
    specs = _fields(cls)
    kwargs: dict[str, Any] = {}
    ok = True
    for key, value in table.items():
        sub = f"{place}.{key}"
        if key in _SECRET_KEYS and key not in specs:
            # never echo the value: it is a secret
            problems.append(Problem(place=sub, message=_SECRET_KEYS[key]))
            ok = False
        elif key not in specs:
            problems.append(_unknown(key, list(specs), sub))
            ok = False
        else:
            try:
                kwargs[key] = specs[key].metadata["conv"](value, sub)
            except ValidationError as exc:
                problems.append(Problem.from_error(exc))
                ok = False
    for name, f in specs.items():
        if name not in table and f.default is MISSING and f.default_factory is MISSING:
            problems.append(Problem(place=f"{place}.{name}", message="is required"))
            ok = False
    if not ok:
        return None
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        # cross-field checks name the field as "<section>.<key>"; give it its real place
        key = exc.field.rsplit(".", 1)[-1]
        problems.append(Problem(place=f"{place}.{key}", message=exc.problem))
        return None


def build_config(text: str, *, source: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> tuple[Config | None, list[Problem]]:
    """Parse TOML text into a Config, collecting every problem (errors and warnings).
    The Config is None when there is any error."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(place="(toml)", message=f"not valid TOML: {exc}")]
    values: dict[str, Any] = {}
    failed = False
    for key, table in doc.items():
        if key not in SECTIONS:
            problems.append(_unknown(key, list(SECTIONS), key))
            failed = True
            continue
        attr, cls, many = SECTIONS[key]
        if many:
            if not isinstance(table, list) or not table:
                problems.append(Problem(place=key, message=f"write it as [[{key}]] tables, one per {key}"))
                failed = True
                continue
            built = [_build_section(cls, t, f"{key}[{i}]", problems) for i, t in enumerate(table)]
            failed |= any(b is None for b in built)
            values[attr] = tuple(built)
        else:
            built_one = _build_section(cls, table, key, problems)
            failed |= built_one is None
            values[attr] = built_one
    if env.get(ENV_DB_URL):
        try:
            values["database"] = DatabaseConfig(url=env[ENV_DB_URL])
        except ValidationError as exc:
            problems.append(Problem(place=f"${ENV_DB_URL}", message=exc.problem))
            failed = True
    if source is not None and not env.get(ENV_DB_URL) and not failed:
        folder = Path(os.path.abspath(source)).parent
        values["database"] = values.get("database", DatabaseConfig()).anchored(folder)
    if not failed:
        _cross_checks(values, problems, env)
        failed = any(p.severity is Severity.ERROR for p in problems)
    if failed:
        return None, problems
    return Config(**values, source=source), problems


def _cross_checks(values: dict[str, Any], problems: list[Problem], env: Mapping[str, str]) -> None:
    nodes: tuple[NodeConfig, ...] = values.get("nodes", Config().nodes)
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.name in seen:
            problems.append(Problem(place=f"node[{i}].name",
                                    message=f"{node.name!r} is already used by node[{seen[node.name]}]"))
        seen.setdefault(node.name, i)
        if not env.get(node.password_env):
            problems.append(Problem(
                place=f"node[{i}].password_env",
                message=f"environment variable {node.password_env} is not set here; "
                        "the worker cannot log in to this switch without it",
                severity=Severity.WARNING))
    for i, hook in enumerate(values.get("webhooks", ())):
        if hook.secret_env is None:
            problems.append(Problem(place=f"webhook[{i}].secret_env", severity=Severity.WARNING,
                                    message="not set: deliveries will not be signed"))
        elif not env.get(hook.secret_env):
            problems.append(Problem(place=f"webhook[{i}].secret_env", severity=Severity.WARNING,
                                    message=f"environment variable {hook.secret_env} is not set here"))
        if hook.url.startswith("http://") and not _is_loopback(urlsplit(hook.url).hostname or ""):
            problems.append(Problem(place=f"webhook[{i}].url", severity=Severity.WARNING,
                                    message="plain http to another host: customer numbers travel unencrypted"))
    _number_checks(values, problems)
    metrics: MetricsConfig | None = values.get("metrics")
    if metrics is not None and metrics.enabled and metrics.address[0] in ("0.0.0.0", "::"):
        problems.append(Problem(place="metrics.listen", severity=Severity.WARNING,
                                message="listens on every interface; restrict it with a firewall"))


def _number_checks(values: dict[str, Any], problems: list[Problem]) -> None:
    """The callback numbers must be numbers of the region; a dial format other than
    e164 means nothing without one (numbers are then written as stored)."""
    numbers: NumbersConfig = values.get("numbers") or NumbersConfig()
    callback: CallbackConfig = values.get("callback") or CallbackConfig()
    if numbers.region is None:
        if callback.dial_number_format is not DialNumberFormat.E164:
            problems.append(Problem(place="callback.dial_number_format", severity=Severity.WARNING,
                                    message=f"{callback.dial_number_format.value!r} has no effect without "
                                            "[numbers] region: numbers are dialled as stored"))
        return
    if callback.caller_id_number is not None:
        try:
            numbers.plan.normalize(callback.caller_id_number, "callback.caller_id_number")
        except ValidationError as exc:
            problems.append(Problem.from_error(exc))


def _is_loopback(host: str) -> bool:
    addr = parse_host(host)
    return host == "localhost" or (addr is not None and addr.is_loopback)


def check_config(path: str | os.PathLike[str] | None = None,
                 environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem in the configuration file (errors and warnings), in file order.
    An empty list means the file is fine. For ``fsworker check``."""
    env = os.environ if environ is None else environ
    file = resolve_path(path, env)
    if file is None:
        return []
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(place=str(file), message=f"cannot read: {getattr(exc, 'strerror', None) or exc}")]
    return build_config(text, source=file, environ=env)[1]


def reference_rows() -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every setting: the configuration reference."""
    rows = []
    for table, (_attr, cls, many) in SECTIONS.items():
        head = f"[[{table}]]" if many else f"[{table}]"
        for name, f in _fields(cls).items():
            default = "(required)" if f.default is MISSING else _toml_repr(f.default)
            rows.append((f"{head} {name}", default, f.metadata["doc"]))
    return rows


def _toml_repr(v: Any) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, enum.Enum):
        return f'"{v.value}"'
    if isinstance(v, tuple):
        return "[" + ", ".join(_toml_repr(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)
