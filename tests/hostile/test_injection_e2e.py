"""Issue 7, hostile input (D5, R6): what a caller, a dialplan or an operator can put
into fsworker never reaches a dial string or an ESL command unescaped.

End to end (SQLite and PostgreSQL, ``harness``): lost calls whose caller number,
``fsw_site``, ``fsw_campaign``, ``fsw_scenario``, ``fsw_number`` and caller name carry
dial-string and ESL metacharacters are driven through the real Service against the fake
switch, and then EVERY command the switch received is checked, raw bytes included
(``FakeSwitchServer.raw_frames``): no line break inside a command, originate arguments
made only of our own variables and of validated endpoints, caller-ID variables that are
validated numbers, speak arguments without separators or expansions. Below that, the
operator's path: the CLI refuses hostile numbers, endpoints and templates naming the
field.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid as uuidlib

import pytest

from fsworker.core.model import Campaign, Hint, HintKind, TargetKind
from fsworker.core.names import MAX_NAME_LEN
from fsworker.core.numbers import is_valid_number
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.core.prompts import HintFacts, render_hint, validate_hint
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import DID, EMPLOYEES, Harness, callback_legs, hostile_inbound_call
from tests.hostile.conftest import Run

MARK = "EVIL"  # in every payload: it must never show up on the wire outside a speak text

#: id -> a value a caller / dialplan controls; each carries MARK
PAYLOADS: dict[str, str] = {
    "comma": f"{MARK},sofia/gateway/x/666",
    "pipe": f"{MARK}|user/666",
    "close-brace": f"{MARK}}}user/666",
    "open-brace": f"{{origination_caller_id_number=666}}{MARK}",
    "squote": f"{MARK}' &bridge(user/666)'",
    "dquote": f'{MARK}" api originate user/666',
    "lf": f"{MARK}\nbgapi originate user/666 &park()\n\n",
    "cr": f"{MARK}\r\rsendmsg 00000000\r",
    "crlf": f"{MARK}\r\n\r\napi uuid_kill all",
    "pct0a": f"{MARK}%0Aapi%20originate%20user/666",
    "pct0d": f"{MARK}%0D%0A%0D%0Aexit",
    "brackets": f"[leg_timeout=1]{MARK}[x=y]",
    "caret": f"^^:{MARK}:user/666",
    "semicolon": f"{MARK};transport=tcp;user/666",
    "spaces": f"  {MARK}   &park()  ",
    "dollar": f"${{system(id)}}{MARK}$${{x}}",
    "backslash": f"{MARK}\\,\\|\\n",
    "unicode": f"сайт-{MARK}.рф 😀 \u202e\u200b\u2028\u2029 ١٢٣",
    "nul-tab": f"{MARK}\x00\t\x1b[2J",
    "long": MARK + ("x|{,}\n" * 2000),
}

#: a rule's hint that echoes every fact and tries to break out of its speak argument
HINT = (
    "Сайт {{ site }}, кампания {{ campaign }}, сценарий {{ scenario }}, имя {{ caller_name }}, "
    "правило {{ rule }}, номер {{ customer_digits }}. {{ site }}|hangup {{ \"x\\n\" }}"
    "{{ '\\r\\n\\r\\napi originate user/666 &park()' }} ${system(id)} %0A{{ campaign|upper }}"
    "{{ '|' ~ scenario ~ '}' }}"
)
HOSTILE_RULE_NAME = 'r,u|l{e}[1]^"q";\'' + MARK

# Commands fsworker may send at all; everything else (e.g. a verb smuggled in after a
# newline) is a failure.
VERBS = {"auth", "event", "filter", "nixevent", "noevents", "api", "bgapi", "sendmsg", "exit", "linger"}
_HEADER = re.compile(r"[A-Za-z0-9_-]+: [^\r\n\x00]*")
_VAR = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>(?:[^{}\[\]'\"|^\s\\,]|\\,)*)")
_ORIGINATE = re.compile(r"\{(?P<vars>[^{}]*)\}(?P<eps>[^\s{}\[\]]+) &park\(\)")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID_API = re.compile(rf"api (uuid_bridge {_UUID} {_UUID}|uuid_kill {_UUID} [A-Z_]+|uuid_exists {_UUID})")
_UNSPEAKABLE = set("|${}\\")


def _customer(i: int) -> str:
    return f"7916000{i:04d}"


def _unsafe_char(ch: str) -> bool:
    return ch in _UNSPEAKABLE or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co")


def assert_wire_clean(h: Harness, *, customers: set[str], dids: set[str] = frozenset({DID}),
                      numbers: set[str] = frozenset()) -> dict[str, int]:
    """Check every command the fake switch received; returns counts per kind so a test
    can also check that the traffic it expects was there. ``numbers``: configured
    numbers (rule / campaign targets) that may be dialled besides the customers."""
    allowed_eps = {ep for eps in EMPLOYEES.values() for ep in eps}
    allowed_eps |= {f"sofia/gateway/pstn/{n}" for n in customers | set(numbers)}
    counts = {"originate": 0, "speak": 0, "frames": 0}
    frames = h.servers[0].raw_frames()
    assert frames, "the switch received nothing"
    for block, body in frames:
        counts["frames"] += 1
        # framing: one command line + header lines, no CR / NUL anywhere, body counted
        assert b"\r" not in block and b"\x00" not in block, block
        text = block.decode("utf-8")  # invalid UTF-8 would raise here
        line, *headers = text.split("\n")
        assert line.split(" ", 1)[0] in VERBS, f"unexpected command line {line!r}"
        assert MARK not in text, f"a payload reached a command: {text!r}"
        for header in headers:
            assert _HEADER.fullmatch(header), f"malformed header line {header!r} in {text!r}"
        lengths = [int(x.split(": ", 1)[1]) for x in headers if x.lower().startswith("content-length: ")]
        assert lengths == ([len(body)] if body else []), (text, body)
        if line.startswith("sendmsg "):
            decoded = body.decode("utf-8")
            assert not re.search(r"[\r\n\x00]", decoded), f"line break in a sendmsg body: {decoded!r}"
            if "execute-app-name: speak" in headers:
                counts["speak"] += 1
                engine, voice, spoken = decoded.split("|", 2)
                assert (engine, voice) == ("flite", "slt"), decoded
                assert not [c for c in spoken if _unsafe_char(c)], f"unsafe characters spoken: {spoken!r}"
                assert len(spoken) <= 500 and spoken == spoken.strip() and "  " not in spoken, spoken
            else:
                assert MARK not in decoded, decoded
        else:
            assert not body, (line, body)
        verb, _, rest = line.partition(" ")
        if verb in ("api", "bgapi") and rest.startswith("originate "):
            counts["originate"] += 1
            arg = rest.removeprefix("originate ")
            m = _ORIGINATE.fullmatch(arg)
            assert m, f"originate argument of an unexpected shape: {arg!r}"
            variables = {}
            for part in re.split(r"(?<!\\),", m["vars"]):
                v = _VAR.fullmatch(part)
                assert v, f"channel variable {part!r} is not name=escaped-value in {arg!r}"
                variables[v["name"]] = v["value"]
            # only fsworker's own bookkeeping and the standard origination variables
            for name, value in variables.items():
                assert name.startswith(("fsw_", "origination_", "originate_")) or name == "ignore_early_media", arg
                if name.startswith("fsw_") or name in ("origination_uuid", "originate_timeout"):
                    assert re.fullmatch(r"[A-Za-z0-9_-]+", value), (name, value)
            cid = variables["origination_caller_id_number"]
            assert is_valid_number(cid) and cid in customers | set(dids), f"caller ID {cid!r} in {arg!r}"
            if variables["fsw_role"] == "customer":
                assert variables["origination_caller_id_name"] in set(dids), arg
            for ep in m["eps"].split(","):
                assert ep in allowed_eps, f"dialled {ep!r}: not a configured endpoint or a validated number"
        elif verb == "api" and rest.startswith("uuid_"):
            assert _UUID_API.fullmatch(line), f"unexpected uuid command {line!r}"
    # the parsed command lines agree with the raw frames (nothing split or merged)
    assert [b.split(b"\n", 1)[0].decode().strip() for b, _ in frames] == h.servers[0].command_lines()
    return counts


def _until_all_done(h: Harness, n: int, max_sim_s: float = 900) -> list:
    assert h.run_until(lambda: len(h.tasks()) == n and all(t.status is TaskStatus.DONE for t in h.tasks())
                       and not h.service.dispatcher.active_tasks, max_sim_s=max_sim_s, step_s=1), \
        [(t.customer_number, t.status, t.end_reason) for t in h.tasks()]
    return [h.task(t.task_id) for t in h.tasks()]


# -- caller-controlled call facts --------------------------------------------------------
def test_hostile_call_facts_reach_only_the_sanitised_hint(harness) -> None:
    """Each lost call carries one payload in fsw_site, fsw_campaign, fsw_scenario and the
    caller name; the rule's (hostile) name and its hint echo them all. Every callback
    still succeeds, and nothing of the payloads leaves fsworker except as cleaned speech."""
    h = harness
    h.add_staff()
    hint = Hint(kind=HintKind.TEXT, text=HINT)
    validate_hint(hint)  # a template that only echoes facts is legitimate: it is accepted
    h.add_rule(name=HOSTILE_RULE_NAME, strategy="employee", target="secretary", intervals=(0,),
               max_concurrent=5, hint=hint)
    h.start()
    h.pbx.directory.set("user/110", Behaviour.answers(after=1))
    h.pbx.directory.set_pattern(r"sofia/gateway/pstn/.*", Behaviour.answers(after=1, hangup_after=15))
    customers = {}
    for i, (key, payload) in enumerate(PAYLOADS.items()):
        customers[_customer(i)] = key
        h.lost_call(_customer(i), vars={"fsw_site": payload, "fsw_campaign": payload, "fsw_scenario": payload},
                    caller_name=payload, ring=[["user/101"]], hangs_up_after=6)
    tasks = _until_all_done(h, len(PAYLOADS))
    for t in tasks:
        assert t.end_reason is TaskEndReason.SUCCESS, (customers[t.customer_number], t)
        # the facts were recorded as the switch sent them (capped), not lost or mangled
        lost = h.service.queue.lost_calls_for_task(t.task_id)[-1]
        payload = PAYLOADS[customers[t.customer_number]].replace("\x00", "\ufffd")  # see intake's rules
        assert lost.site == payload and lost.campaign == payload and lost.scenario == payload, \
            customers[t.customer_number]
    counts = assert_wire_clean(h, customers=set(customers))
    assert counts["speak"] == len(PAYLOADS) and counts["originate"] == 2 * len(PAYLOADS), counts
    # the hint really was the rule's (not the fallback): each payload is in it, cleaned
    spoken = [arg for leg in callback_legs(h.pbx, role="employee") for app, arg, *_ in h.pbx.spoken_on(leg.uuid)]
    assert len(spoken) == len(PAYLOADS)
    texts = [arg.split("|", 2)[2] for arg in spoken]
    assert all(arg.startswith("flite|slt|Сайт ") and "|" not in t for arg, t in zip(spoken, texts)), spoken
    assert all(MARK in t and len(t) <= 500 for t in texts), texts
    assert any("EVIL,sofia/gateway/x/666 hangup x api originate user/666 &park() system(id) %0AEVIL" in t
               for t in texts), texts
    assert any(f"Сайт {MARK} user/666, " in t for t in texts), "'|' was not replaced by a space"
    assert any("Сайт сайт-EVIL.рф 😀 ١٢٣," in t for t in texts), "unicode text was not kept as text"
    # a 12 000-character fact is capped (facts.MAX_FACT_CHARS) before it is spoken, so
    # the next fact still fits in the 500 characters of speech
    assert any(t.startswith(f"Сайт {MARK}x , x , ") and f"кампания {MARK}x , " in t for t in texts), texts


def test_hostile_caller_numbers_are_skipped_as_invalid_and_recorded(harness, caplog) -> None:
    """A caller ID that is not digits with one optional '+' never becomes a task: each
    such lost call is recorded with the skip reason invalid_number (nothing is lost),
    and nothing is dialled but the lost calls' own legs. An answered call from such a
    caller (a contact, R17) is taken in without an error too."""
    h = harness
    h.add_staff()
    h.add_rule(name="any", strategy="last_attempted", intervals=(0,))
    h.start()
    h.pbx.directory.set_pattern(r".*666.*", Behaviour.answers(after=0.1, hangup_after=60))
    h.pbx.directory.set("user/102", Behaviour.rings())
    h.pbx.directory.set("user/103", Behaviour.answers(after=1, hangup_after=5))
    hostile_inbound_call(h.pbx, "7916\x00777", DID, ring=["user/103"], hangs_up_after=30)
    callers = [
        "79161234567,sofia/gateway/x/666", "7916|user/666", "7916}{x=1}user/666", "{a=b}79161234567",
        "79161234567'", '79161234567"', "79161234567\n", "\n79161234567", "7916\r\napi originate user/666",
        "79161234567%0A", "%2B79161234567", "79161234567%0D", "[leg_timeout=1]7916", "7916^666",
        "79161234567;user=phone", "+7 916 123 45 67", "+7(916)1234567", "++79161234567", "+", "",
        "anonymous", "７９１６１２３４５６７", "٧٩١٦١٢٣٤٥٦٧", "7" * 21, "7916\x00666", "7916\t666",
        "${system(id)}", "79161234567 " + "x" * 3000,
    ]
    uuids = {hostile_inbound_call(h.pbx, c, DID, ring=["user/102"], hangs_up_after=3,
                                  uuid=str(uuidlib.uuid4())): c for c in callers}

    def recorded() -> bool:
        try:
            return all(h.service.queue.lost_call_skip_reason(u) is not None for u in uuids)
        except Exception:  # noqa: BLE001 - not recorded yet
            return False

    assert h.run_until(recorded, max_sim_s=60), "not every hostile call was recorded with a skip reason"
    for u, caller in uuids.items():
        assert h.service.queue.lost_call_skip_reason(u) is SkipReason.INVALID_NUMBER, caller
        stored = h.service.queue.get_lost_call(u)
        # recorded as reported; a NUL (which PostgreSQL cannot store) as U+FFFD
        assert stored.customer_number == caller.replace("\x00", "\ufffd"), caller
    h.run_until(lambda: False, max_sim_s=30, step_s=2)
    assert not h.tasks()
    assert not callback_legs(h.pbx)
    assert {leg.endpoint for leg in h.pbx.legs.outbound()} == {"user/102", "user/103"}
    assert h.service.observer.funnel.get("skipped:invalid_number") == len(callers)
    counts = assert_wire_clean(h, customers=set())
    assert counts["originate"] == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_hostile_campaign_never_selects_a_campaign_target(harness) -> None:
    """The campaign strategy looks fsw_campaign up by exact name: a value that merely
    contains a campaign's name (with separators, spaces, a newline) is no campaign, so
    the attempt ends target_not_found and nothing is dialled; the real name works."""
    h = harness
    h.add_staff()
    h.repo.add(Campaign(name="cpc-42", target_kind=TargetKind.NUMBER, target="79031112233"))
    h.add_rule(name="by campaign", strategy="campaign", intervals=(0,), max_concurrent=5)
    h.start()
    h.pbx.directory.set_pattern(r".*79031112233.*", Behaviour.answers(after=1))
    h.pbx.directory.set_pattern(r"sofia/gateway/pstn/7916.*", Behaviour.answers(after=1, hangup_after=15))
    hostile = ["cpc-42,user/666", "cpc-42|user/666", "cpc-42\n", " cpc-42", "cpc-42}", "{x=1}cpc-42",
               "cpc-42%0A", "CPC-42", "cpc-42;", "cpc-4２"]
    customers = {}
    for i, campaign in enumerate([*hostile, "cpc-42"]):
        customers[_customer(i)] = campaign
        h.lost_call(_customer(i), vars={"fsw_campaign": campaign}, ring=[["user/101"]], hangs_up_after=6)
    tasks = _until_all_done(h, len(customers))
    for t in tasks:
        campaign = customers[t.customer_number]
        if campaign == "cpc-42":
            assert t.end_reason is TaskEndReason.SUCCESS, t
        else:
            assert [a.outcome for a in t.attempts] == [AttemptOutcome.TARGET_NOT_FOUND], (campaign, t)
            assert not callback_legs(h.pbx, t.task_id), campaign
    assert_wire_clean(h, customers=set(customers), numbers={"79031112233"})
    dialled = {leg.endpoint for leg in callback_legs(h.pbx, role="employee")}
    assert dialled == {"sofia/gateway/pstn/79031112233"}


@pytest.mark.parametrize("did", ["74950000001,user/666", "7495{x=1}", "74950000001\n", "74950000001%0A"],
                         ids=["comma", "brace", "lf", "pct0a"])
def test_hostile_virtual_number_never_becomes_a_caller_id(harness, did: str) -> None:
    """fsw_number (the DID shown to the customer, D2) from the dialplan is untrusted too:
    an invalid one never reaches origination_caller_id_*; the attempt is recorded as
    invalid_number and the customer is not dialled with it."""
    h = harness
    h.add_staff()
    h.add_rule(name="secretary", strategy="employee", target="secretary", intervals=(0,))
    h.start()
    h.pbx.directory.set("user/110", Behaviour.answers(after=1))
    h.pbx.directory.set_pattern(r"sofia/gateway/pstn/.*", Behaviour.answers(after=1, hangup_after=15))
    h.lost_call(_customer(1), vars={"fsw_number": did}, ring=[["user/101"]], hangs_up_after=6)
    [task] = _until_all_done(h, 1)
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.INVALID_NUMBER], task
    assert not callback_legs(h.pbx, task.task_id, "customer")
    assert_wire_clean(h, customers={_customer(1)})


SANDBOX_ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lost_at.__class__.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ site.format_map }}{{ ''.format.__self__ }}",
    "{{ 'a' * 100000000 }}",
    "{% for i in range(10**9) %}x{% endfor %}",
]


def test_sandbox_escape_in_a_stored_hint_is_not_executed(harness) -> None:
    """A rule stored with a template that tries to leave the sandbox (written behind
    the CLI's back, e.g. directly in the database) is not executed at call time: the
    employee hears the default hint and the callback goes on."""
    h = harness
    h.add_staff()
    h.add_rule(name="escape", strategy="employee", target="secretary", intervals=(0,), max_concurrent=5,
               hint=Hint(kind=HintKind.TEXT, text=SANDBOX_ESCAPES[2]))
    h.start()
    h.pbx.directory.set("user/110", Behaviour.answers(after=1))
    h.pbx.directory.set_pattern(r"sofia/gateway/pstn/.*", Behaviour.answers(after=1, hangup_after=15))
    h.lost_call(_customer(1), ring=[["user/101"]], hangs_up_after=6)
    [task] = _until_all_done(h, 1)
    assert task.end_reason is TaskEndReason.SUCCESS, task
    [leg] = [leg for leg in callback_legs(h.pbx, task.task_id, "employee") if leg.answered]
    assert [(app, arg) for app, arg, *_ in h.pbx.spoken_on(leg.uuid)] == [("speak", "flite|slt|автоперезвон")]
    assert_wire_clean(h, customers={_customer(1)})


# -- the operator's path: the CLI refuses hostile values, naming the field ------------------
@pytest.mark.parametrize("template", SANDBOX_ESCAPES)
def test_cli_refuses_a_sandbox_escaping_hint(run: Run, template: str) -> None:
    r = run("rules", "add", "x", "--strategy", "last_attempted", "--hint-text", template)
    assert r.code == 1, (template, r)
    assert "rule.hint.text" in r.err and "template error" in r.err, r.err
    assert run("rules", "list", "--json").out.strip() == "[]"


#: valid Jinja that would build gigabytes or recurse forever: refused like an escape
RESOURCE_BOMBS = [
    "{{ site.ljust(10**9) }}",
    "{{ site|center(10**9) }}",
    "{{ site|indent(10**9, true) }}",
    "{% set x = 'a' %}{{ x.zfill(10**9) }}",
    "{{ site.expandtabs(10**9) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '{0:{1}}'.format('x', 10**9) }}",
    "{{ '%01000000000d' % 1 }}",
    "{{ '%*d' % (10**9, 1) }}",
    "{{ '%(a)1000000000s' % {'a': 1} }}",
    "{{ '%*s'|format(10**9, 'x') }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
]
#: and what a real hint does stays allowed, in the hint language (facts, filters, if,
#: for): str.format, "%" and padding filters are outside it, a hint is spoken, not laid out
FINE_TEMPLATES = [
    "{{ site|upper|truncate(30) }} {{ attempt }} {{ customer_number|int }} {{ lost_at|strftime('%H:%M') }}",
    "{% for d in customer_digits|replace(' ', '') %}{{ d }}{% if not loop.last %}-{% endif %}{% endfor %}"
    " {{ customer_number[-4:] }} {{ site|default('no site', true)|title }} {{ 'x' ~ (attempt + 1) }}",
]


@pytest.mark.parametrize("template", RESOURCE_BOMBS)
def test_resource_bomb_hints_are_refused_and_never_run(run: Run, template: str) -> None:
    """Refused when saved (exit 1, a template error naming the field); and if one is
    stored anyway, rendering it at call time falls back to the default hint quickly
    instead of exhausting the worker's memory or stack."""
    r = run("rules", "add", "x", "--strategy", "last_attempted", "--hint-text", template)
    assert r.code == 1, r
    assert "rule.hint.text" in r.err and "template error" in r.err and "Traceback" not in r.err, r.err
    action = render_hint(Hint(kind=HintKind.TEXT, text=template), HintFacts.sample())
    assert action.fallback and action.text == "автоперезвон"


@pytest.mark.parametrize("template", FINE_TEMPLATES)
def test_ordinary_formatting_in_hints_is_still_allowed(template: str) -> None:
    validate_hint(Hint(kind=HintKind.TEXT, text=template))
    assert not render_hint(Hint(kind=HintKind.TEXT, text=template), HintFacts.sample()).fallback


HOSTILE_NUMBERS = ["79161234567,user/666", "7916|666", "{x=1}7916", "7916}", "7916'", '7916"', "7916\n",
                   "7916%0A", "7916[x]", "7916^", "7916;x", "7916 666", "７９１６", "+", "7" * 21, ""]
HOSTILE_ENDPOINTS = ["user/101,user/666", "user/101|user/666", "{x=1}user/101", "user/101}", "[x=1]user/101",
                     "user/101'", 'user/101"', "user/101\n", "user/101 &park()", "user/101^x", "user/",
                     "user/101%0A", "пользователь/101", "user/" + "1" * 300]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_cli_refuses_a_hostile_arbitrary_number(run: Run, number: str) -> None:
    """Strategy "number" (an arbitrary number typed into the rule), a campaign's number
    target, a virtual number and a blacklist entry: each refused naming its field."""
    cases = [
        (("rules", "add", "duty", "--strategy", "number", "--target", number), "rule.target"),
        (("campaigns", "add", "promo", "--target-kind", "number", "--target", number), "campaign.target"),
        (("numbers", "add", number), "virtual_number.number"),
        (("blacklist", "add", number), "blacklist.number"),
    ]
    for argv, field in cases:
        r = run(*argv)
        assert r.code == 1, (argv, r)
        assert field in r.err and ("digits" in r.err or "required" in r.err), (argv, r.err)
        assert "Traceback" not in r.err
    assert run("export").out.count("[[") == 0


@pytest.mark.parametrize("endpoint", HOSTILE_ENDPOINTS)
def test_cli_refuses_a_hostile_employee_endpoint(run: Run, endpoint: str) -> None:
    r = run("employees", "add", "anna", "--endpoint", endpoint)
    assert r.code == 1, r
    assert "employee.endpoints[0]" in r.err and "endpoint" in r.err, r.err
    assert run("employees", "add", "anna", "--endpoint", "user/101").code == 0
    r = run("employees", "edit", "anna", "--endpoint", "user/102", "--endpoint", endpoint)
    assert r.code == 1 and "employee.endpoints[1]" in r.err, r.err
    shown = run("employees", "show", "anna", "--json")
    assert '"user/101"' in shown.out and "user/102" not in shown.out


@pytest.mark.parametrize("value", ["shop.example.com,x", "shop|x", "{x}", "a b", "a\nb", "a'b", "",
                                   "x" * (MAX_NAME_LEN + 1)])
def test_cli_refuses_hostile_identifiers(run: Run, value: str) -> None:
    """Sites, campaign names and scenario extensions / contexts are identifiers that
    reach dial strings (scenario) or are matched against call facts: no metacharacters."""
    cases = [
        (("sites", "add", value), "site.name"),
        (("campaigns", "add", value, "--target-kind", "number", "--target", "79031112233"), "campaign.name"),
        (("scenarios", "add", "ivr", "--extension", value), "scenario.extension"),
        (("scenarios", "add", "ivr", "--extension", "5000", "--context", value), "scenario.context"),
        (("rules", "add", "r", "--place", "site", "--place-value", value, "--strategy", "last_attempted"),
         "rule.place_value"),
    ]
    for argv, field in cases:
        r = run(*argv)
        assert r.code == 1, (argv, r)
        assert field in r.err, (argv, r.err)
    assert run("export").out.count("[[") == 0


CONFIG_CASES = [
    ('[callback]\ncustomer_dial_template = "sofia/gateway/pstn/{number},user/666"\n',
     "callback.customer_dial_template", "{number} once"),
    ('[callback]\ncustomer_dial_template = "sofia/gateway/pstn/{number}|user/666"\n',
     "callback.customer_dial_template", "{number} once"),
    ('[callback]\nexternal_number_template = "{origination_caller_id_number=666}sofia/gateway/pstn/{number}"\n',
     "callback.external_number_template", "{number} once"),
    ('[callback]\nexternal_number_template = "sofia/gateway/pstn/{number} &park()"\n',
     "callback.external_number_template", "{number} once"),
    ('[callback]\ncaller_id_number = "74950000001,666"\n', "callback.caller_id_number", "digits"),
    ('[callback]\ncaller_id = "fixed"\ncaller_id_number = "+7 495 000"\n', "callback.caller_id_number", "digits"),
    ('[tts]\nvoice = "slt|user/666"\n', "tts.voice", "without spaces or '|'"),
    ('[tts]\nengine = "flite\\nexit"\n', "tts.engine", "a TTS module name"),
    ('[node]\nname = "a b"\n', "node", "write it as [[node]] tables"),
    ('[[node]]\nhost = "127.0.0.1\\napi"\n', "node[0].host", "a host name"),
]


@pytest.mark.parametrize("text,field,limit", CONFIG_CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CONFIG_CASES)])
def test_check_refuses_hostile_dial_settings_in_the_config_file(run: Run, tmp_path, text: str, field: str,
                                                                 limit: str) -> None:
    """What the configuration file puts into dial strings and speak arguments (dial
    templates, the fixed caller ID, TTS engine / voice, the ESL host) is refused by
    ``fsworker check`` naming the key."""
    path = tmp_path / "fsworker.toml"
    path.write_text(text, encoding="utf-8")
    r = run("check", str(path), db=None)
    assert r.code == 1, r
    assert f"{field}" in r.out + r.err and limit in r.out + r.err, r
