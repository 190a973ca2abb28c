# The api commands and sendmsg of the fake PBX, answering with FreeSWITCH 1.10.12's
# exact texts (traces 02, 07, 07b, 08, 11, 16). Rules: every command parses its
# arguments and answers -ERR on anything it does not understand, never raises to the
# server; a command that must wait for time to pass (originate) waits outside the
# PBX lock, so the greenlet advancing the clock can run.
"""api / sendmsg command handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fsworker.core.errors import FsworkerError
from fsworker.testing.fakeswitch import control
from fsworker.testing.fakeswitch.apps import make_app
from fsworker.testing.fakeswitch.dialing import DialJob, parse_dial_string, split_originate_arg

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.channels import Channel
    from fsworker.testing.fakeswitch.pbx import FakePBX

log = logging.getLogger(__name__)

NO_SUCH_CHANNEL = "-ERR No such channel!\n"
VERSION = "1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit"


class Pending:
    """An api result that arrives later (originate): ``wait()`` blocks the caller's
    greenlet until the clock has been advanced far enough."""

    def __init__(self) -> None:
        self.value: str | None = None
        self._waiters: list[Any] = []
        self.callbacks: list[Callable[[str], None]] = []

    def set(self, value: str) -> None:
        if self.value is not None:
            return
        self.value = value
        for cb in self.callbacks:
            cb(value)
        for w in self._waiters:
            w.set(value)

    def wait(self, timeout: float | None = None) -> str:
        if self.value is not None:
            return self.value
        import gevent.event  # the server runs api calls in greenlets

        ev = gevent.event.AsyncResult()
        self._waiters.append(ev)
        return ev.get(timeout=timeout)


def dispatch(pbx: FakePBX, command: str, arg: str) -> str | Pending:
    if " " in command and not arg:
        command, _, arg = command.partition(" ")
    handler = _COMMANDS.get(command)
    if handler is None:
        return f"-ERR {command} Command not found!\n"
    try:
        return handler(pbx, arg)
    except _Err as exc:
        return exc.text
    except FsworkerError as exc:
        log.info("fake switch: %s %s refused: %s", command, arg, exc)
        return f"-ERR {exc}\n"


def _status(pbx: FakePBX, arg: str) -> str:
    up = int(pbx.now() - pbx.started_at)
    d, r = divmod(up, 86400)
    h, r = divmod(r, 3600)
    m, s = divmod(r, 60)
    n = len(pbx.channels)
    return (
        f"UP 0 years, {d} days, {h} hours, {m} minutes, {s} seconds, 0 milliseconds, "
        f"0 microseconds\nFreeSWITCH (Version {VERSION}) is ready\n"
        f"{pbx.sessions_since_startup} session(s) since startup\n"
        f"{n} session(s) - peak {n}, last 5min {n} \n"
        "0 session(s) per Sec out of max 100, peak 0, last 5min 0 \n"
        "1000 session(s) max\nmin idle cpu 0.00/100.00\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


def originate(pbx: FakePBX, arg: str) -> Pending:
    """``originate {vars}endpoint &app(arg)`` or ``... <ext> [XML [<context>]]``."""
    dial_text, rest = split_originate_arg(arg)
    dial = parse_dial_string(dial_text)
    if not rest:
        raise _Err("-USAGE: <call url> <exten>|&<application_name>(<app_args>) "
                   "[<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]")
    pending = Pending()
    if pbx.shutting_down:
        pending.set("-ERR DESTINATION_OUT_OF_ORDER\n")
        return pending

    def answered(ch: Channel) -> None:
        p = ch.profile
        ch.profile = p.__class__(**{**{k: getattr(p, k) for k in p.__dataclass_fields__},
                                    "caller_id_name": "Outbound Call",
                                    "caller_id_number": p.destination_number,
                                    "callee_id_name": p.orig_caller_id_name,
                                    "callee_id_number": p.orig_caller_id_number})
        ch.emit("CALL_UPDATE", prefix=[("Direction", "RECV")])
        if rest.startswith("&"):
            name, _, app_arg = rest[1:].partition("(")
            ch.dialplan.append(make_app(name.strip(), app_arg.rstrip(")")))
            ch.hangup_when_idle = name.strip() != "park"
        else:
            ext, *more = rest.split()
            context = more[1] if len(more) > 1 else "default"
            route(pbx, ch, ext, context)
        pending.set(f"+OK {ch.uuid}\n")
        pbx.scheduler.call_later(0, pbx.run_next, ch)

    def failed(cause: str) -> None:
        pending.set(f"-ERR {cause}\n")

    job = DialJob(pbx, dial, parent=None, origin="originate", on_answer=answered,
                  on_fail=failed)
    job.start()
    return pending


def route(pbx: FakePBX, ch: Channel, ext: str, context: str = "default") -> None:
    """Send a channel into the (fake) XML dialplan: a registered extension's apps, or
    NO_ROUTE_DESTINATION as FreeSWITCH does for an unknown one."""
    apps = pbx.extensions.get(ext)
    ch.hangup_when_idle = True
    if apps is None:
        ch.dialplan.append(make_app("hangup", "NO_ROUTE_DESTINATION"))
        return
    for name, app_arg in apps:
        ch.dialplan.append(make_app(name, app_arg))


def _channel(pbx: FakePBX, uuid: str) -> Channel:
    ch = pbx.channels.get(uuid)
    if ch is None or not ch.alive:
        raise _Err(NO_SUCH_CHANNEL)
    return ch


class _Err(FsworkerError):
    """An -ERR answer, text as FreeSWITCH words it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _uuid_kill(pbx: FakePBX, arg: str) -> str:
    uuid, _, cause = arg.partition(" ")
    ch = _channel(pbx, uuid)
    if "sip_hangup_disposition" not in ch.variables:
        ch.set_var("sip_hangup_disposition", "send_bye" if ch.answered else "send_cancel")
    pbx.hangup(ch, cause.strip() or "NORMAL_CLEARING")
    return "+OK\n"


def _uuid_exists(pbx: FakePBX, arg: str) -> str:
    ch = pbx.channels.get(arg.strip())
    return "true" if ch is not None and ch.alive else "false"


def _uuid_getvar(pbx: FakePBX, arg: str) -> str:
    uuid, _, name = arg.partition(" ")
    ch = _channel(pbx, uuid)
    return ch.variables.get(name.strip(), "_undef_")


def _uuid_dump(pbx: FakePBX, arg: str) -> str:
    """The channel's CHANNEL_DATA headers and variables, as FreeSWITCH's uuid_dump:
    ``Key: url-encoded value`` lines by default, one JSON object with ``json``."""
    uuid, _, fmt = arg.strip().partition(" ")
    ch = _channel(pbx, uuid)
    # A real uuid_dump serialises a CHANNEL_DATA event, its Event-Date-* headers included:
    # recovery reads Event-Date-Timestamp as the moment the description was taken.
    now = pbx.now_us()
    headers = [("Event-Name", "CHANNEL_DATA"), ("Event-Date-Timestamp", str(now)),
               *ch.channel_headers("CHANNEL_DATA")]
    headers += [("variable_" + k, v) for k, v in ch.variables.items()]
    if fmt.strip().lower() == "json":
        return json.dumps(dict(headers))
    return "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers)


def _uuid_setvar(pbx: FakePBX, arg: str) -> str:
    parts = arg.split(" ", 2)
    if len(parts) < 2:
        return "-USAGE: <uuid> <var> [value]\n"
    ch = _channel(pbx, parts[0])
    if len(parts) == 3:
        ch.set_var(parts[1], parts[2])
    else:
        ch.variables.pop(parts[1], None)
    return "+OK\n"


def _uuid_broadcast(pbx: FakePBX, arg: str) -> str:
    parts = arg.split(" ")
    if len(parts) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
    ch = _channel(pbx, parts[0])
    what = parts[1] if len(parts) == 2 or parts[-1] not in ("aleg", "bleg", "both") \
        else " ".join(parts[1:-1])
    if "::" in what:
        name, _, app_arg = what.partition("::")
    else:
        name, app_arg = "playback", what
    private = [("Command", f"uuid_broadcast {arg}"), ("call-command", "execute"),
               ("execute-app-name", name), ("execute-app-arg", app_arg)]
    pbx.queue_app(ch, make_app(name, app_arg, private=private))
    return "+OK Message sent\n"


def _uuid_transfer(pbx: FakePBX, arg: str) -> str:
    parts = arg.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    ch = _channel(pbx, parts[0])
    rest = parts[1:]
    if rest[0] in ("-bleg", "-both"):
        flag = rest.pop(0)
        other = pbx.channels.get(ch.bridged_to or "")
        if other is None:
            return NO_SUCH_CHANNEL
        ch = other if flag == "-bleg" else ch
    dest = rest[0]
    dialplan = rest[1] if len(rest) > 1 else "XML"
    context = rest[2] if len(rest) > 2 else "default"
    blind_transfer(pbx, ch, dest, dialplan, context)
    return "+OK\n"


def blind_transfer(pbx: FakePBX, ch: Channel, dest: str, dialplan: str = "XML",
                   context: str = "default") -> None:
    """uuid_transfer / SIP REFER of a channel to an extension (07, 07c)."""
    now = pbx.now_us()
    source = f"{now // 1_000_000}:{_profile_uuid(ch)}:bl_xfer:{dest}/{context}/{dialplan}"
    old = ch.profile
    ch.new_profile(destination_number=dest, transfer_source=source, rdnis=old.destination_number,
                   context=context)
    history = ch.variables.get("transfer_history")
    ch.set_var("transfer_history", source if history is None else _append(history, source))
    ch.set_var("transfer_source", source)
    partner = pbx.channels.get(ch.bridged_to or "")
    ch.unlink_other()
    if partner is not None:
        partner.bridged_to = None
        ch.uuid_bridged = False
        pbx.hangup(partner, "NORMAL_CLEARING")
    for app in reversed(list(ch.apps)):
        if hasattr(app, "transferred"):
            if ch.bridged_to or partner is not None:
                pbx.unbridge(ch)
            app.transferred(pbx, ch)
        else:
            app.unwind(pbx, ch)
    ch.bridged_to = None
    ch.queue.clear()
    ch.dialplan.clear()
    ch.set_call_state("RINGING")
    ch.set_state("CS_ROUTING")
    if ch.answered:
        ch.set_call_state("ACTIVE")
    ch.set_state("CS_EXECUTE")
    route(pbx, ch, dest, context)
    pbx.scheduler.call_later(0, pbx.run_next, ch)


def _append(history: str, item: str) -> str:
    if history.startswith("ARRAY::"):
        return f"{history}|:{item}"
    return f"ARRAY::{history}|:{item}"


def _profile_uuid(ch: Channel) -> str:
    import uuid as _uuid

    return str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"{ch.uuid}/{ch.profile.index}"))


def _uuid_bridge(pbx: FakePBX, arg: str) -> str:
    parts = arg.split()
    if len(parts) != 2:
        return "-USAGE: <uuid> <other_uuid>\n"
    a, b = _channel(pbx, parts[0]), _channel(pbx, parts[1])
    now = pbx.now_us()
    for x, y, kind in ((a, b, "originatee"), (b, a, "originator")):
        src = f"{now // 1_000_000}:{_profile_uuid(x)}:uuid_br:{y.uuid}"
        x.new_profile(transfer_source=src)
        x.link_other(kind, y)
        for k in ("transfer_history", "transfer_source"):
            x.set_var(k, src)
    for x in (a, b):
        for app in reversed(list(x.apps)):
            app.unwind(pbx, x)  # park: CHANNEL_UNPARK + EXECUTE_COMPLETE
        x.set_state("CS_HIBERNATE")
        x.set_state("CS_RESET")
        x.set_state("CS_SOFT_EXECUTE")
    for x, y in ((a, b), (b, a)):
        x.emit("CHANNEL_EXECUTE", suffix=[("Application", "uuid_bridge"),
                                          ("Application-Data", y.uuid)])
    pbx._mark_bridged(a, b, now)
    a.bridged_to, b.bridged_to = b.uuid, a.uuid
    a.uuid_bridged = b.uuid_bridged = True
    a.bridge_owner = True
    pbx.report_bridge(a, b)
    b.call_uuid = a.uuid
    b.set_state("CS_CONSUME_MEDIA")
    b.set_state("CS_EXCHANGE_MEDIA")
    for x, y in ((a, b), (b, a)):
        x.emit("CALL_UPDATE", prefix=[("Direction", "SEND"),
                                      ("Sent-Callee-ID-Name", y.profile.caller_id_name),
                                      ("Sent-Callee-ID-Number", y.profile.caller_id_number),
                                      ("Bridged-To", y.uuid)])
    return f"+OK {b.uuid}\n"


def _show(pbx: FakePBX, arg: str) -> str:
    words = arg.split()
    if not words or words[0] != "channels":
        return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
    as_json = words[-2:] == ["as", "json"]
    count = "count" in words
    rows = [_row(ch) for ch in pbx.channels.values() if ch.alive]
    if count:
        return json.dumps({"row_count": len(rows)}) + "\n" if as_json else f"\n{len(rows)} total.\n"
    if as_json:
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, indent=1) + "\n"
    if not rows:
        return "\n0 total.\n"
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


def _row(ch: Channel) -> dict[str, str]:
    app = ch.apps[-1] if ch.apps else None
    return {
        "uuid": ch.uuid, "direction": ch.direction,
        "created_epoch": str(ch.created_us // 1_000_000), "name": ch.name,
        "state": ch.state, "cid_name": ch.profile.caller_id_name,
        "cid_num": ch.profile.caller_id_number, "dest": ch.profile.destination_number,
        "application": app.name if app else "", "application_data": app.arg if app else "",
        "callstate": ch.call_state, "call_uuid": ch.call_uuid,
    }


def _hupall(pbx: FakePBX, arg: str) -> str:
    parts = arg.split()
    cause = parts[0] if parts else "MANAGER_REQUEST"
    var = (parts[1], parts[2]) if len(parts) >= 3 else None
    for ch in list(pbx.channels.values()):
        if ch.alive and (var is None or ch.variables.get(var[0]) == var[1]):
            pbx.hangup(ch, cause)
    return f"+OK hangup all channels with cause {cause}\n"


_COMMANDS: dict[str, Callable[[FakePBX, str], Any]] = {
    "status": _status, "originate": originate, "uuid_kill": _uuid_kill,
    "uuid_exists": _uuid_exists, "uuid_getvar": _uuid_getvar, "uuid_dump": _uuid_dump, "uuid_setvar": _uuid_setvar,
    "uuid_broadcast": _uuid_broadcast, "uuid_transfer": _uuid_transfer,
    "uuid_bridge": _uuid_bridge, "show": _show, "hupall": _hupall,
    # fake-only: drive the standalone switch (fsworker fake-switch call / endpoint ...)
    **control.COMMANDS,
}


def sendmsg(pbx: FakePBX, uuid: str, headers: dict[str, str], body: bytes = b"") -> str:
    with pbx.scheduler.lock:
        ch = pbx.channels.get(uuid)
        if ch is None or not ch.alive:
            return f"-ERR invalid session id [{uuid}]"
        command = headers.get("call-command", "")
        if command == "hangup":
            pbx.hangup(ch, headers.get("hangup-cause", "NORMAL_CLEARING"))
            return "+OK"
        if command != "execute":
            return "+OK"  # nomedia/unicast/xferext are not simulated
        name = headers.get("execute-app-name", "")
        arg = headers.get("execute-app-arg")
        if arg is None and body:
            arg = body.decode("utf-8", "replace")
        private = [("Command", f"sendmsg {uuid}")] + list(headers.items())
        loops = int(headers.get("loops", "1") or "1")
        for _ in range(max(1, min(loops, 100))):
            pbx.queue_app(ch, make_app(name, arg or "", private=private,
                                       app_uuid=headers.get("Event-UUID")))
        return "+OK"
