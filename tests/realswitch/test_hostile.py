"""Hostile caller IDs from a real SIP phone: what a customer's phone puts in From never
reaches a dial string or a speak argument unchecked. The SIPp customer sends them; the
switch's own events say what was dialled and spoken."""

from __future__ import annotations

import re
import time
import urllib.request

from tests.realswitch.harness import Lab, free_tcp_port, unique_number
from tests.realswitch.test_callbacks import GROUP_DID, _sqlite, hang_up_when_bridged, setup_group_rule


def _metric(port: int, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_a_caller_number_carrying_a_dial_string_is_never_dialled(lab: Lab) -> None:
    port = free_tcp_port()
    cfg = lab.config("w1", db_url=_sqlite(lab), metrics_port=port)
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"})
    lab.run("w1", cfg, metrics=True)

    # the From user of the INVITE: a number, then a second dial string
    hostile = unique_number() + ",sofia/internal/105@127.0.0.1:5071"
    lab.lost_call(hostile.replace("@", "%40"), GROUP_DID, ring_ms=2000)
    inbound = lab.until("the switch to show the hostile call", lambda: [
        leg for leg in lab.observer.legs() if hostile.split(",")[0] in leg.caller_id_number
        and leg.create.get("Call-Direction") == "inbound"], 10)
    assert "," in inbound[0].caller_id_number, inbound[0].caller_id_number  # it did reach fsworker as is
    lab.until("the lost call to be refused as an invalid number",
              lambda: _metric(port, "fsworker_skips_total", 'reason="invalid_number"') >= 1, 20)
    time.sleep(3)
    digits = hostile.split(",")[0]
    assert not [t for t in lab.tasks(cfg) if digits in t["customer_number"]]
    # nothing was dialled for it: no leg of fsworker's shows the number or dials it, and
    # no leg went to the injected 105 from this DID or number
    assert not [leg for leg in lab.observer.legs() if leg.var("fsw_task_id")
                and (digits in leg.name or digits in leg.caller_id_number)]
    assert not [leg for leg in lab.observer.legs() if leg.name.startswith("sofia/internal/105")
                and (leg.caller_id_number in (GROUP_DID, "74950000000") or digits in leg.caller_id_number)]


def test_a_hostile_caller_name_is_spoken_as_plain_words(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab))
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"},
                     hint="Call from {{ caller_name }}")
    lab.run("w1", cfg)

    name = "Ivan|kal|${uuid_kill(all)}{x}"
    caller = lab.customer(customer, GROUP_DID, scenario="uac_ring_cancel_named.xml", hold_ms=2000, name=name)
    assert caller.wait(30) == 0, caller.out.read_text(errors="replace")
    inbound = lab.observer.customer_legs(customer)[0]
    # FreeSWITCH itself defuses "${" (it becomes "%{"); the rest reaches fsworker as sent
    assert inbound.create["Caller-Caller-ID-Name"] == name.replace("$", "%")
    task = lab.until("a task", lambda: lab.task_of(cfg, customer), 30)
    hang_up_when_bridged(lab, task["id"])
    task = lab.wait_task_done(cfg, customer, 60)
    assert task["end_reason"] == "success", task

    employee = lab.observer.callback_legs(task["id"], "employee")[0]
    spoken = [data for app, data in employee.apps if app == "speak"]
    assert len(spoken) == 1, employee.apps
    engine, voice, text = spoken[0].split("|", 2)
    assert (engine, voice) == ("flite", "slt")
    assert "Ivan" in text and "uuid_kill" in text
    assert not set(text) & set("|${}"), text
