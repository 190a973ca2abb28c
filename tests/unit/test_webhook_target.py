"""Webhook targets (issue 13 item 6): no credentials in the URL, however written; never
a link-local or metadata address; private ranges only with allow_private; hosts read
the way the HTTP client reads them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from fsworker.config.settings import Severity, WebhookConfig, check_config
from fsworker.core.errors import ValidationError
from fsworker.core.webhook_target import AddressClass, classify, parse_host


@pytest.mark.parametrize(("url", "secret"), [
    ("https://user:p/w@crm.example.com/h", "p/w"),
    ("https://user:pw@crm.example.com/h", "pw@"),
    ("https://a:b@c@crm.example.com/h", "b@c"),
    ("https://token@crm.example.com/h", "token"),
])
def test_credentials_in_the_url_are_refused_however_written(url: str, secret: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookConfig(url=url)
    assert info.value.field == "webhook.url" and "user:password@" in info.value.limit
    assert secret not in str(info.value)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata address"),
    ("http://[fd00:ec2::254]/", "cloud metadata address"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata address"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata service name"),
    ("http://169.254.10.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0:80/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://255.255.255.255/", "reserved"),
])
@pytest.mark.parametrize("allow_private", [False, True])
def test_link_local_and_metadata_are_always_refused(url: str, reason: str, allow_private: bool) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookConfig(url=url, allow_private=allow_private)
    assert info.value.field == "webhook.url" and reason in info.value.limit


@pytest.mark.parametrize("url", [
    "http://0x7f000001:9/", "http://2130706433/", "http://0177.0.0.1/", "http://127.1/", "http://127.0.0.1:8080/h",
    "http://[::1]/", "http://localhost/", "http://app.localhost/", "http://10.0.0.5/", "http://172.16.1.1/",
    "http://192.168.1.10/", "http://100.64.0.1/", "http://[fd12:3456::1]/", "http://0xc0a80001/",
])
def test_private_and_loopback_need_allow_private(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookConfig(url=url)
    assert info.value.field == "webhook.url" and "allow_private = true" in info.value.limit
    assert WebhookConfig(url=url, allow_private=True).allow_private


@pytest.mark.parametrize("url", ["https://crm.example.com/h", "http://8.8.8.8/x", "https://[2001:4860::8888]/",
                                 "https://1password.example/h", "https://crm.example.com:8443/h?token=x"])
def test_public_targets_are_accepted(url: str) -> None:
    WebhookConfig(url=url)


@pytest.mark.parametrize(("host", "address"), [
    ("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("::ffff:10.0.0.1", "10.0.0.1"), ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("crm.example.com", None), ("1password.example", None),
])
def test_hosts_are_parsed_as_the_http_client_does(host: str, address: str | None) -> None:
    got = parse_host(host)
    assert (None if got is None else str(got)) == address


def test_classes() -> None:
    assert classify(ipaddress.ip_address("93.184.216.34"))[0] is AddressClass.PUBLIC
    assert classify(ipaddress.ip_address("127.0.0.1"))[0] is AddressClass.PRIVATE
    assert classify(ipaddress.ip_address("169.254.169.254"))[0] is AddressClass.FORBIDDEN


def test_config_file_names_the_place_and_the_reason(tmp_path: Path) -> None:
    p = tmp_path / "fsworker.toml"
    p.write_text('[[webhook]]\nurl = "http://0x7f000001:9/"\n'
                 '[[webhook]]\nurl = "http://169.254.169.254/latest/"\nallow_private = true\n'
                 '[[webhook]]\nurl = "http://127.0.0.1:9/h"\nallow_private = true\n')
    problems = check_config(p, environ={})
    errors = [str(x) for x in problems if x.severity is Severity.ERROR]
    assert any(e.startswith("webhook[0].url:") and "loopback" in e and "allow_private" in e for e in errors), errors
    assert any(e.startswith("webhook[1].url:") and "metadata" in e for e in errors), errors
    assert not any(e.startswith("webhook[2]") for e in errors), errors
    # loopback is this machine: no "unencrypted to another host" warning for it
    assert not any(x.place == "webhook[2].url" for x in problems)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "127.0.1", "0x7f000001", "0X7F.1", "2130706433", "0177.0.0.1", "0", "0x", "00", "1.2.3.4",
    "255.255.255.255", "256.1.1.1", "1.2.3.256", "4294967296", "0x100000000", "08", "09.1.1.1", "0xg", "1..2",
    "1.2.3.4.5", "", "a", "1a", "0x1.0x2.0x3.0x4", "012.034.056.077", "1.2.65536", "1.16777215", "1.16777216",
])
def test_ipv4_forms_match_the_c_library(host: str) -> None:
    import socket

    from fsworker.core.webhook_target import inet_aton

    try:
        expected: int | None = int.from_bytes(socket.inet_aton(host), "big")
    except OSError:
        expected = None
    assert inet_aton(host) == expected
