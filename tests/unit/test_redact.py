"""No secret in a URL survives being shown (issue 13 item 5)."""

from __future__ import annotations

import pytest

from fsworker.config.settings import (
    Config,
    DatabaseConfig,
    NodeConfig,
    WebhookConfig,
    _redact_url,
    load_config,
)
from fsworker.core.errors import ConfigError, ValidationError
from fsworker.store.engine import redact_url
from fsworker.store.redact import redact_db_url, redact_http_url

DB_CASES = [
    # (url, the secret, what must still show)
    ("postgresql://u:p@ss9@h/db", "ss9", "postgresql://u:***@h/db"),
    ("mysql://root:My/Secret9@db.example/fsw", "Secret9", "mysql://root:***@db.example/fsw"),
    ("postgresql://fsw:s3cret@db:5432/fsw?sslmode=require", "s3cret", "postgresql://fsw:***@db:5432/fsw?sslmode=require"),
    ("postgresql://fsw:p%40ss@db/fsw", "p%40ss", "postgresql://fsw:***@db/fsw"),
    ("postgresql+psycopg2://a:b:c@h/db", "b:c", "postgresql+psycopg2://a:***@h/db"),
]


@pytest.mark.parametrize(("url", "secret", "shown"), DB_CASES)
def test_database_url_redacted_whole_password(url: str, secret: str, shown: str) -> None:
    for redact in (redact_db_url, redact_url, _redact_url):
        out = redact(url)
        assert secret not in out and out == shown


def test_unparsable_database_url_shows_no_secret() -> None:
    assert "pw" not in redact_db_url("postgresql://u:pw@h:notaport/db")
    assert redact_db_url(None) == "<unparsable URL>"


def test_database_config_repr_never_carries_the_password() -> None:
    cfg = DatabaseConfig(url="postgresql://fsw:Hunter2x@db.example/fsw")
    assert "Hunter2x" not in repr(cfg) and "db.example" in repr(cfg)
    assert "Hunter2x" not in repr(Config(database=cfg))


def test_database_url_with_unencoded_at_in_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        DatabaseConfig(url="postgresql://u:p@ss9@h/db")
    assert info.value.field == "database.url" and "%40" in info.value.limit
    assert "ss9" not in str(info.value)


def test_unsupported_database_scheme_from_env_names_it_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"FSWORKER_DB_URL": "mysql://root:My/Secret9@db.example/fsw"})
    text = str(info.value)
    assert "FSWORKER_DB_URL" in text and "db.example" in text
    assert "Secret9" not in text and "My/" not in text


HTTP_CASES = [
    ("https://user:p/w@crm.example.com/h", "p/w", "https://***@crm.example.com/h"),
    ("https://crm.example.com/h?token=abc#x", "abc", "https://crm.example.com/h?***"),
    ("http://a:b@c@crm.example.com:8080/h", "b@c", "http://***@crm.example.com:8080/h"),
]


@pytest.mark.parametrize(("url", "secret", "shown"), HTTP_CASES)
def test_http_url_redacted(url: str, secret: str, shown: str) -> None:
    out = redact_http_url(url)
    assert secret not in out and out == shown


def test_no_config_repr_carries_a_secret() -> None:
    hook = WebhookConfig(url="https://crm.example.com/hook?token=T0ken55", secret_env="HOOK_SECRET")
    node = NodeConfig(password_env="PBX_PW")
    cfg = Config(database=DatabaseConfig(url="postgresql://u:Pw9999@h/db"), nodes=(node,), webhooks=(hook,))
    text = repr(cfg)
    assert "T0ken55" not in text and "Pw9999" not in text
    assert "crm.example.com/hook" in text and "PBX_PW" in text
