"""fsworker.config.settings: loading, every-problem checking, secrets never leaking."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fsworker.config.settings import (
    DEFAULT_DB_URL,
    CallbackConfig,
    CallerIdPolicy,
    Config,
    ConfigNotFoundError,
    DatabaseConfig,
    NodeConfig,
    Severity,
    WebhookEvent,
    check_config,
    load_config,
    reference_rows,
)
from fsworker.core.errors import ConfigError, InvalidNumberError, ValidationError

EXAMPLE = Path(__file__).resolve().parents[2] / "fsworker.example.toml"
ENV = {"FSWORKER_ESL_PASSWORD": "s3cret-Pa55"}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fsworker.toml"
    p.write_text(text, encoding="utf-8")
    return p


def errors(problems) -> list[str]:
    return [str(p) for p in problems if p.severity is Severity.ERROR]


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, environ={})
    assert cfg == Config()
    assert cfg.source is None
    assert cfg.database.url == DEFAULT_DB_URL
    assert cfg.database.sqlite_path == Path("./var/fsworker.sqlite3")
    assert [n.name for n in cfg.nodes] == ["default"]
    assert cfg.callback.min_talk_s == 5


def test_example_file_is_valid_and_documents_every_key():
    cfg = load_config(EXAMPLE, environ=ENV)
    assert cfg.metrics.address == ("127.0.0.1", 9464)
    assert check_config(EXAMPLE, environ=ENV) == []
    text = EXAMPLE.read_text(encoding="utf-8")
    for key, _default, doc in reference_rows():
        name = key.split()[-1]
        assert re.search(rf"^#? ?{name} *=", text, re.MULTILINE), f"{key} missing from the example"
        assert doc


def test_env_selects_file_and_overrides_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write(tmp_path, '[worker]\nworkers = 7\n')
    env = {"FSWORKER_CONFIG": str(p), "FSWORKER_DB_URL": "postgresql://fsw@db/fsw"}
    cfg = load_config(None, environ=env)
    assert cfg.worker.workers == 7
    assert cfg.database.url == "postgresql://fsw@db/fsw"
    assert cfg.source == p


def test_full_file(tmp_path):
    p = write(tmp_path, """
[database]
url = "postgresql://fsworker@10.0.0.5/fsworker"
[[node]]
name = "pbx1"
host = "10.0.0.11"
[[node]]
name = "pbx2"
host = "10.0.0.12"
port = 8022
password_env = "PBX2_PW"
[callback]
caller_id = "fixed"
caller_id_number = "+74950000000"
customer_dial_template = "sofia/gateway/mts/8{number}"
[[webhook]]
url = "https://crm.example.com/hook"
secret_env = "HOOK_SECRET"
events = ["task.ended"]
""")
    cfg = load_config(p, environ={})
    assert [(n.name, n.port) for n in cfg.nodes] == [("pbx1", 8021), ("pbx2", 8022)]
    assert cfg.callback.caller_id is CallerIdPolicy.FIXED
    assert cfg.callback.customer_endpoint("79161234567") == "sofia/gateway/mts/879161234567"
    assert cfg.webhooks[0].events == (WebhookEvent.TASK_ENDED,)
    assert cfg.node("pbx2").password({"PBX2_PW": "x"}) == "x"


def test_every_problem_is_reported_with_its_place(tmp_path):
    p = write(tmp_path, """
[[node]]
name = "a"
[[node]]
name = "b"
port = 70000
connect_timout_s = 3
[worker]
workers = 0
[callback]
min_talk_s = "five"
customer_dial_template = "sofia/gateway/pstn/{number},user/100"
[metrcs]
listen = "x"
[[webhook]]
url = "ftp://crm.example.com/"
""")
    errs = errors(check_config(p, environ={}))
    assert "node[1].port: 70000 is invalid: an integer 1..65535" in errs
    assert "node[1].connect_timout_s: unknown key 'connect_timout_s'; did you mean 'connect_timeout_s'?" in errs
    assert "worker.workers: 0 is invalid: an integer 1..5000" in errs
    assert any(e.startswith("callback.min_talk_s: 'five' is invalid") for e in errs)
    assert any(e.startswith("callback.customer_dial_template:") for e in errs)
    assert "metrcs: unknown key 'metrcs'; did you mean 'metrics'?" in errs
    assert any(e.startswith("webhook[0].url: 'ftp://crm.example.com/' is invalid") for e in errs)
    assert len(errs) == 7
    with pytest.raises(ConfigError) as info:
        load_config(p, environ={})
    assert "7 problem(s)" in str(info.value)


def test_literal_password_is_refused_without_echoing_it(tmp_path):
    p = write(tmp_path, '[[node]]\nname = "a"\npassword = "TopSecret123"\n')
    problems = check_config(p, environ={})
    assert [pr.place for pr in problems if pr.severity is Severity.ERROR] == ["node[0].password"]
    text = "\n".join(map(str, problems))
    assert "password_env" in text
    assert "TopSecret123" not in text
    with pytest.raises(ConfigError) as info:
        load_config(p, environ={})
    assert "TopSecret123" not in str(info.value)


def test_webhook_secret_literal_refused(tmp_path):
    p = write(tmp_path, '[[webhook]]\nurl = "https://crm/x"\nsecret = "hush"\n')
    errs = errors(check_config(p, environ={}))
    assert len(errs) == 1 and "secret_env" in errs[0] and "hush" not in errs[0]


def test_password_is_never_in_repr_and_missing_env_is_explicit():
    node = NodeConfig(name="pbx1")
    assert node.password(ENV) == "s3cret-Pa55"
    assert "s3cret" not in repr(node) and "s3cret" not in repr(Config(nodes=(node,)))
    with pytest.raises(ConfigError, match="FSWORKER_ESL_PASSWORD"):
        node.password({})


def test_missing_password_env_is_a_warning_not_an_error(tmp_path):
    p = write(tmp_path, '[[node]]\nname = "a"\n')
    problems = check_config(p, environ={})
    assert [(pr.place, pr.severity) for pr in problems] == [("node[0].password_env", Severity.WARNING)]
    assert load_config(p, environ={}).nodes[0].name == "a"


def test_duplicate_node_names(tmp_path):
    p = write(tmp_path, '[[node]]\nname = "a"\n[[node]]\nname = "a"\nhost = "10.0.0.2"\n')
    assert "node[1].name: 'a' is already used by node[0]" in errors(check_config(p, environ=ENV))


def test_node_as_single_table_is_explained(tmp_path):
    p = write(tmp_path, '[node]\nname = "a"\n')
    assert errors(check_config(p, environ=ENV)) == ["node: write it as [[node]] tables, one per node"]


def test_toml_syntax_error(tmp_path):
    p = write(tmp_path, "[worker\nworkers = 1\n")
    errs = errors(check_config(p))
    assert len(errs) == 1 and errs[0].startswith("(toml): not valid TOML")


def test_unreadable_file():
    with pytest.raises(ConfigNotFoundError, match="no such configuration file") as caught:
        load_config("/nonexistent/fsworker.toml")
    assert caught.value.exit_code == 3
    assert check_config("/nonexistent/fsworker.toml")[0].message.startswith("cannot read")


def test_fixed_caller_id_needs_a_number(tmp_path):
    p = write(tmp_path, '[callback]\ncaller_id = "fixed"\n')
    assert errors(check_config(p, environ=ENV)) == [
        "callback.caller_id_number: not set: required when a caller_id policy is fixed"
    ]


def test_bool_is_not_an_int():
    with pytest.raises(ValidationError, match="node.port"):
        NodeConfig(port=True)


def test_direct_construction_is_validated_and_coerced():
    cb = CallbackConfig(caller_id="fixed", caller_id_number="+74950000000")
    assert cb.caller_id is CallerIdPolicy.FIXED
    with pytest.raises(ValidationError):
        CallbackConfig(customer_dial_template="sofia/gateway/pstn/")


def test_customer_endpoint_validates_the_number():
    cb = CallbackConfig()
    with pytest.raises(InvalidNumberError):
        cb.customer_endpoint("7916 123&bgapi")


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1:", "localhost:99999", "::1:9464"])
def test_bad_metrics_listen(tmp_path, listen):
    p = write(tmp_path, f'[metrics]\nlisten = "{listen}"\n')
    assert errors(check_config(p, environ=ENV))[0].startswith("metrics.listen:")


def test_metrics_listen_port_zero_asks_for_a_free_port(tmp_path):
    p = write(tmp_path, '[metrics]\nlisten = "127.0.0.1:0"\n')
    assert load_config(p, environ=ENV).metrics.address == ("127.0.0.1", 0)


def test_ipv6_metrics_listen(tmp_path):
    p = write(tmp_path, '[metrics]\nlisten = "[::1]:9464"\n')
    assert load_config(p, environ=ENV).metrics.address == ("::1", 9464)


def test_tts_tokens_cannot_inject_speak_arguments(tmp_path):
    p = write(tmp_path, '[tts]\nvoice = "slt|evil"\n')
    assert errors(check_config(p, environ=ENV))[0].startswith("tts.voice:")


def test_database_password_redacted_in_errors_and_repr(tmp_path):
    p = write(tmp_path, '[database]\nurl = "mysql://u:pw123@h/db"\n')
    errs = errors(check_config(p, environ=ENV))
    assert len(errs) == 1 and "pw123" not in errs[0]
    cfg = load_config(None, environ={"FSWORKER_CONFIG": str(write(tmp_path, "")),
                                     "FSWORKER_DB_URL": "postgresql://u:pw123@h/db"})
    assert "pw123" not in repr(cfg)


def test_webhook_url_with_credentials_refused(tmp_path):
    p = write(tmp_path, '[[webhook]]\nurl = "https://user:pw@crm/x"\nsecret_env = "S"\n')
    errs = errors(check_config(p, environ={"S": "k"}))
    assert len(errs) == 1 and "pw@" not in errs[0]


def test_webhook_warnings(tmp_path):
    p = write(tmp_path, '[[webhook]]\nurl = "http://crm.example.com/x"\n')
    warnings = {pr.place for pr in check_config(p, environ=ENV) if pr.severity is Severity.WARNING}
    assert warnings == {"webhook[0].secret_env", "webhook[0].url"}


def test_log_section_sets_level_and_json_lines(tmp_path, capsys):
    import json
    import logging

    from fsworker.cli.logsetup import apply_log_config

    cfg = load_config(write(tmp_path, '[log]\nlevel = "ERROR"\nformat = "json"\n'), environ=ENV)
    root = logging.getLogger()
    saved = (root.level, [h.formatter for h in root.handlers])
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        apply_log_config(cfg.log)
        assert root.level == logging.ERROR
        line = handler.formatter.format(logging.LogRecord("fsworker.x", logging.ERROR, __file__, 1,
                                                          "task %s: %s", (7, "Привет"), None))
        doc = json.loads(line)
        assert doc["level"] == "ERROR" and doc["message"] == "task 7: Привет" and doc["logger"] == "fsworker.x"
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])


def test_a_relative_sqlite_path_is_anchored_at_the_config_files_folder(tmp_path):
    p = write(tmp_path, '[database]\nurl = "sqlite:///./var/x.sqlite3?timeout=5"\n')
    assert load_config(p, environ=ENV).database.url == f"sqlite:///{tmp_path / 'var' / 'x.sqlite3'}?timeout=5"
    # the default, under a file, is anchored too; absolute paths and PostgreSQL are kept
    p = write(tmp_path, "[worker]\nworkers = 2\n")
    assert load_config(p, environ=ENV).database.url == f"sqlite:///{tmp_path / 'var' / 'fsworker.sqlite3'}"
    p = write(tmp_path, '[database]\nurl = "sqlite:////srv/x.sqlite3"\n')
    assert load_config(p, environ=ENV).database.url == "sqlite:////srv/x.sqlite3"
    # $FSWORKER_DB_URL is the operator's own: as given
    env = {**ENV, "FSWORKER_DB_URL": "sqlite:///./mine.sqlite3"}
    assert load_config(p, environ=env).database.url == "sqlite:///./mine.sqlite3"


def test_postgres_urls_are_normalised_like_libpq_takes_them():
    assert DatabaseConfig(url="postgres://u@h/db").url == "postgresql://u@h/db"
    assert DatabaseConfig(url="postgres+psycopg2://u@h/db").url == "postgresql+psycopg2://u@h/db"


def test_the_hint_render_budget_is_configurable_and_checked(tmp_path):
    from fsworker.core.prompts.budget import RenderBudget
    from fsworker.service.app import Service

    p = write(tmp_path, '[[node]]\nname = "a"\n[prompts]\nrender_cpu_ms = 5\nrender_wall_ms = 50\n'
                        'render_max_chars = 300\n')
    cfg = load_config(p, environ=ENV)
    assert (cfg.prompts.render_cpu_ms, cfg.prompts.render_wall_ms, cfg.prompts.render_max_chars) == (5, 50, 300)
    service = Service(cfg, environ=ENV)  # wired through to every attempt's hint
    assert service.dispatcher.settings.prompt.render_budget == RenderBudget(cpu_ms=5, wall_ms=50, max_chars=300)
    bad = write(tmp_path, '[[node]]\nname = "a"\n[prompts]\nrender_cpu_ms = 50\nrender_wall_ms = 10\n'
                          'render_max_chars = 0\n')
    errs = [str(pr) for pr in check_config(bad, environ=ENV) if pr.severity is Severity.ERROR]
    assert any(e.startswith("prompts.render_max_chars: 0 is invalid: an integer 1..100000") for e in errs), errs
    assert len(errs) == 1  # the wall/cpu check comes once each field is valid on its own
    fixed = write(tmp_path, '[[node]]\nname = "a"\n[prompts]\nrender_cpu_ms = 50\nrender_wall_ms = 10\n')
    errs = [str(pr) for pr in check_config(fixed, environ=ENV) if pr.severity is Severity.ERROR]
    assert len(errs) == 1 and errs[0].startswith("prompts.render_wall_ms: 10") and "render_cpu_ms (50)" in errs[0]


def test_the_switch_shutdown_wait_is_configurable_and_checked(tmp_path):
    from fsworker.service.app import Service

    p = write(tmp_path, '[[node]]\nname = "a"\n[callback]\nswitch_shutdown_wait_s = 2.5\n')
    cfg = load_config(p, environ=ENV)
    assert cfg.callback.switch_shutdown_wait_s == 2.5
    service = Service(cfg, environ=ENV)  # wired through to every node's call flow
    assert [slot.flow.settings.going_away_wait_s for slot in service.dispatcher.nodes] == [2.5]
    assert CallbackConfig().switch_shutdown_wait_s == 5.0
    bad = write(tmp_path, '[[node]]\nname = "a"\n[callback]\nswitch_shutdown_wait_s = 61\n')
    errs = [str(pr) for pr in check_config(bad, environ=ENV) if pr.severity is Severity.ERROR]
    assert errs == ["callback.switch_shutdown_wait_s: 61 is invalid: a number of seconds 0..60"], errs
