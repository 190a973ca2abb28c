"""Requested callbacks, from outside (issue 16): `fsworker run` + `fsworker fake-switch`
as processes; a CRM asks over HTTP (POST /api/v1/callbacks), a customer presses "call
me back" in the IVR (fsw_callback_request=true). Both become callbacks that ring the
employee first and end success; every answer of the API matches its OpenAPI document."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fsworker.service.api import OPENAPI_PATH
from tests.e2e.test_run_cli import PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture

TOKEN = "s3cret-token-for-tests"
CUSTOMER = "79161230001"
OTHER = "79161230002"
BLOCKED = "79161230003"
DID = "74950000001"
OPENAPI = json.loads(OPENAPI_PATH.read_text())


def _schema(name: str) -> dict[str, Any]:
    return {**OPENAPI["components"]["schemas"][name], "components": OPENAPI["components"]}


def _call(base: str, method: str, path: str, body: object = None, token: str | None = TOKEN,
          raw: bytes | None = None, ctype: str = "application/json") -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            code, text = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        code, text = exc.code, exc.read()
    doc = json.loads(text)
    # every answer is one the document promises, in the shape it promises
    op = OPENAPI["paths"][re.sub(r"/\d+$", "/{id}", path)][method.lower()]
    assert str(code) in op["responses"], (method, path, code, doc)
    ref = op["responses"][str(code)]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    jsonschema.validate(doc, _schema(ref))
    return code, doc


@pytest.fixture()
def world(tmp_path: Path, procs: Procs):  # noqa: F811
    env = clean_env()
    env["FSWORKER_API_TOKEN"] = TOKEN
    switch, port = start_fake_switch(procs, tmp_path, env)
    db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\n'
        'password_env = "FSWORKER_ESL_PASSWORD"\n\n[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n\n'
        '[callback]\nmin_talk_s = 1\nemployee_ring_timeout_s = 10\ncustomer_ring_timeout_s = 10\n\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n')
    base = ["-c", str(config), "--db", db]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Anna", "--endpoint", "user/101")
    _cli(env, *base, "groups", "add", "sales", "--member", "Anna")
    _cli(env, *base, "rules", "add", "asked", "--place", "request", "--strategy", "group", "--target", "sales",
         "--intervals", "0,60")
    _cli(env, *base, "rules", "add", "later", "--place", "request", "--strategy", "group", "--target", "sales",
         "--intervals", "3600", "--disabled")
    _cli(env, *base, "blacklist", "add", BLOCKED)
    link = ["--port", port]
    _cli(env, "fake-switch", "endpoint", "user/101", "answer", "--after", "0.3", *link)
    for number in (CUSTOMER, OTHER):
        _cli(env, "fake-switch", "endpoint", number, "answer", "--after", "0.3", "--hangup-after", "2", *link)
    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "-v", "run"], run_log, env)
    m = _wait_for("the API", lambda: re.search(r"metrics on http://([\d.]+:\d+)/metrics.*callbacks API on /api/v1",
                                               run_log.read_text()), 30, worker, run_log)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)
    return {"env": env, "base": base, "link": link, "http": "http://" + m.group(1),  # type: ignore[union-attr]
            "log": run_log, "worker": worker}


def test_a_crm_asks_for_a_callback_follows_and_cancels_it(world: dict[str, Any]) -> None:
    http = world["http"]
    # authentication first: no token, a wrong token
    assert _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "k1"},
                 token=None)[0] == 401
    assert _call(http, "GET", "/api/v1/callbacks/1", token="wrong")[0] == 401
    # bad input names the field and the limit, and creates nothing
    code, doc = _call(http, "POST", "/api/v1/callbacks", {"customer_number": "+7 916 abc", "idempotency_key": "k0"})
    assert (code, doc["field"]) == (400, "customer_number"), doc
    code, doc = _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "a b"})
    assert (code, doc["field"]) == (400, "idempotency_key"), doc
    code, doc = _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "k0",
                                                          "callback_at": "soon"})
    assert (code, doc["field"]) == (400, "callback_at"), doc
    code, doc = _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "k0",
                                                          "rule": "nosuch"})
    assert (code, doc["field"]) == (400, "rule"), doc
    assert _call(http, "POST", "/api/v1/callbacks", raw=b"{not json", ctype="application/json")[0] == 400
    assert _call(http, "POST", "/api/v1/callbacks", raw=b"x" * 20000)[0] == 413
    assert json.loads(_cli(world["env"], *world["base"], "tasks", "list", "--json")) == []
    # the blacklist holds for requests too
    code, doc = _call(http, "POST", "/api/v1/callbacks", {"customer_number": BLOCKED, "idempotency_key": "kb"})
    assert (code, doc["reason"]) == (422, "blacklisted"), doc

    # a callback under a named rule, not before an hour from now: waits
    code, later = _call(http, "POST", "/api/v1/callbacks",
                        {"customer_number": OTHER, "idempotency_key": "k-later", "rule": "later"})
    assert (code, later["reason"]) == (422, "no_rule"), later  # the rule is disabled: disabled stays disabled
    code, parked = _call(http, "POST", "/api/v1/callbacks",
                         {"customer_number": OTHER, "company_number": DID, "idempotency_key": "k-park",
                          "not_before": "2099-01-01T09:00:00+03:00"})
    assert code == 201 and parked["due_at"].startswith("2099-01-01T06:00:00"), parked
    # cancel it; a second cancel is a conflict
    code, cancelled = _call(http, "DELETE", f"/api/v1/callbacks/{parked['id']}")
    assert (code, cancelled["status"], cancelled["end_reason"]) == (200, "done", "cancelled_by_operator")
    assert _call(http, "DELETE", f"/api/v1/callbacks/{parked['id']}")[0] == 409
    with urllib.request.urlopen(http + "/metrics", timeout=10) as resp:  # counted once, as ended by an operator
        assert 'fsworker_tasks_ended_total{reason="cancelled_by_operator"} 1.0' in resp.read().decode()
    assert _call(http, "GET", "/api/v1/callbacks/999999")[0] == 404

    # now a callback due at once, shown the company number
    code, task = _call(http, "POST", "/api/v1/callbacks",
                       {"customer_number": CUSTOMER, "company_number": DID, "idempotency_key": "crm-42"})
    assert code == 201 and task["lost_calls"] == ["api:crm-42"], task
    # the same key again: the same callback, not a second one; another key: D1 joins it
    code, again = _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "crm-42"})
    assert (code, again["id"]) == (200, task["id"])
    code, joined = _call(http, "POST", "/api/v1/callbacks", {"customer_number": CUSTOMER, "idempotency_key": "crm-43"})
    assert (code, joined["id"]) == (200, task["id"])

    def done() -> dict[str, Any] | None:
        code, doc = _call(http, "GET", f"/api/v1/callbacks/{task['id']}")
        return doc if code == 200 and doc["status"] == "done" else None

    ended = _wait_for("the callback to end", done, 60, world["worker"], world["log"])
    assert ended["end_reason"] == "success", ended  # type: ignore[index]
    assert ended["attempts"][0]["employee"] == "Anna"  # type: ignore[index]
    # from the switch's side: the employee first, then the customer, shown the DID
    status = _cli(world["env"], "fake-switch", "status", *world["link"])
    emp = re.search(rf"originate user/101 cid={CUSTOMER} answered .* task={task['id']} role=employee", status)
    cust = re.search(rf"originate sofia/gateway/pstn/{CUSTOMER} cid={DID} answered .* task={task['id']} role=customer",
                     status)
    assert emp and cust, status
    assert status.index(emp.group(0)) < status.index(cust.group(0))


def test_a_customer_asks_in_the_ivr(world: dict[str, Any]) -> None:
    """The dialplan sets fsw_callback_request=true and hangs up after 1 s: a wait far
    under any rule's minimum is still called back, under the 'request' rule."""
    uuid = _cli(world["env"], "fake-switch", "call", CUSTOMER, DID, "--request", "--hangup-after", "1",
                *world["link"]).strip()

    def done() -> dict[str, Any] | None:
        tasks = json.loads(_cli(world["env"], *world["base"], "tasks", "list", "--json"))
        return next((t for t in tasks if t["status"] == "done"), None)

    task = _wait_for("the requested callback to end", done, 60, world["worker"], world["log"])
    assert task["lost_calls"] == [uuid], task  # type: ignore[index]
    assert (task["rule"], task["end_reason"]) == ("asked", "success"), task  # type: ignore[index]
    metrics = urllib.request.urlopen(world["http"] + "/metrics", timeout=5).read().decode()
    assert re.search(r'^fsworker_lost_calls_total\{place="request"\} 1\.0$', metrics, re.MULTILINE), metrics
