"""The supervisor's console in a real browser (issue 16): headless Chromium driven by
Playwright against `fsworker run` + `fsworker fake-switch` as processes. A lost call
appears as a waiting task, the callback's progress shows, the master switch toggles,
a cancel works, a POST without the CSRF token changes nothing. A failing test leaves
screenshots in its tmp folder (and names them in the failure)."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_run_cli import PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture

CHROMIUM = os.environ.get("FSWORKER_CHROMIUM", "/usr/bin/chromium")
SECRET = "let-me-in-4711"
CUSTOMER = "79161239001"
SECOND = "79161239002"
DID = "74950000001"

playwright_api = pytest.importorskip("playwright.sync_api")


def _need_browser() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true" or os.environ.get("FSWORKER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium required but missing at {CHROMIUM} (.ci/run installs Debian's chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")


@pytest.fixture()
def service(tmp_path: Path, procs: Procs) -> dict[str, Any]:  # noqa: F811
    _need_browser()
    env = clean_env()
    env["FSWORKER_CONSOLE_PASSWORD"] = SECRET
    switch, port = start_fake_switch(procs, tmp_path, env)
    db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\n'
        'password_env = "FSWORKER_ESL_PASSWORD"\n\n[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n\n'
        '[callback]\nmin_talk_s = 1\nemployee_ring_timeout_s = 20\ncustomer_ring_timeout_s = 10\n\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n\n[console]\nlisten = "127.0.0.1:0"\n')
    base = ["-c", str(config), "--db", db]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Anna", "--endpoint", "user/101")
    _cli(env, *base, "groups", "add", "sales", "--member", "Anna")
    # the first attempt a minute after the loss: time to see the task wait
    _cli(env, *base, "rules", "add", "sales", "--strategy", "group", "--target", "sales", "--intervals", "60,60")
    link = ["--port", port]
    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "-v", "run"], run_log, env)
    m = _wait_for("the console", lambda: re.search(r"console on (http://[\d.]+:\d+)/console/", run_log.read_text()),
                  30, worker, run_log)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)
    return {"env": env, "base": base, "link": link, "url": m.group(1), "log": run_log,  # type: ignore[union-attr]
            "worker": worker, "tmp": tmp_path}


def test_a_supervisor_follows_and_steers_callbacks_in_a_browser(service: dict[str, Any]) -> None:
    url, env, link = service["url"], service["env"], service["link"]
    shots: list[Path] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.set_default_timeout(15_000)

        def shot(name: str) -> None:
            path = service["tmp"] / f"console-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

        try:
            # the console wants a login; a wrong password is refused
            page.goto(f"{url}/console/")
            assert page.url.endswith("/console/login")
            page.fill("#password", "guess")
            page.click("#login")
            assert page.locator("#login-error").inner_text() == "wrong password"
            page.fill("#password", SECRET)
            page.click("#login")
            page.wait_for_url(f"{url}/console/")
            assert page.locator("#master-state").inner_text() == "ON"

            # a lost call appears as a waiting task
            _cli(env, "fake-switch", "endpoint", "user/101", "ring", *link)
            _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/101", "--leg-timeout", "20",
                 "--hangup-after", "2", *link)
            _wait_for("the lost call's task", lambda: (page.reload(), page.locator(
                f'#waiting tr.task-row[data-customer="{CUSTOMER}"]').count())[1], 40)
            shot("waiting")
            assert "sales" in page.locator("#waiting").inner_text()

            # the task's story; cancel it (with the page's CSRF token)
            page.click(f'#waiting tr.task-row[data-customer="{CUSTOMER}"] a')
            assert "Task #" in page.locator("#task h2").inner_text()
            assert "number" in page.locator("#lost-calls").inner_text()
            page.click("#cancel")
            assert "cancelled_by_operator" in page.locator("#task-status").inner_text()
            shot("cancelled")
            metrics = re.search(r"metrics on (http://[\d.]+:\d+)/metrics", service["log"].read_text()).group(1)
            with urllib.request.urlopen(metrics + "/metrics", timeout=10) as resp:
                assert 'fsworker_tasks_ended_total{reason="cancelled_by_operator"} 1.0' in resp.read().decode()

            # a POST without the token changes nothing
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}
            req = urllib.request.Request(f"{url}/console/switch", data=b"enabled=off", method="POST",
                                         headers={"Cookie": f"fsw_console={cookies['fsw_console']}",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
            with pytest.raises(urllib.error.HTTPError) as ei:
                urllib.request.urlopen(req, timeout=5)
            assert ei.value.code == 403
            page.goto(f"{url}/console/")
            assert page.locator("#master-state").inner_text() == "ON"

            # the master switch: off, then on again (the CLI sees it too)
            page.click("#master-toggle")
            page.wait_for_load_state()
            assert page.locator("#master-state").inner_text() == "OFF"
            assert "off" in _cli(env, *service["base"], "switch", "status").lower()
            page.click("#master-toggle")
            assert page.locator("#master-state").inner_text() == "ON"

            # a second customer's callback, followed to its end on the task page
            _cli(env, "fake-switch", "endpoint", "user/101", "answer", "--after", "0.3", *link)
            _cli(env, "fake-switch", "endpoint", SECOND, "answer", "--after", "0.3", "--hangup-after", "2", *link)
            _cli(env, *service["base"], "rules", "edit", "sales", "--intervals", "0,60")
            _cli(env, "fake-switch", "call", SECOND, DID, "--ring", "user/102", "--leg-timeout", "20",
                 "--hangup-after", "2", *link)
            def second_task() -> int | None:
                tasks = json.loads(_cli(env, *service["base"], "tasks", "list", "--json"))
                return next((t["id"] for t in tasks if t["customer_number"].endswith(SECOND)), None)

            task_id = _wait_for("the second customer's task", second_task, 40)
            page.goto(f"{url}/console/tasks/{task_id}")
            _wait_for("the callback's success", lambda: (page.reload(), "success" in page.locator(
                "#attempts").inner_text())[1], 60)
            assert "Anna" in page.locator("#attempts").inner_text()
            shot("success")
            page.goto(f"{url}/console/")
            assert re.search(r"success\s*1", page.locator("#funnel").inner_text()), page.locator("#funnel").inner_text()
        except Exception as exc:
            shot("failure")
            raise AssertionError(f"{exc}\nscreenshots: {[str(p) for p in shots]}") from exc
        finally:
            browser.close()
