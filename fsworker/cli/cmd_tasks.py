"""``fsworker tasks``: list / show / cancel callback tasks (R19).

Rules: read-only except ``cancel``, which ends an open task with
``cancelled_by_operator`` (an attempt in flight is finished by its worker). ``show``
gives the whole story: the lost call(s) the task serves, every attempt with its
outcome and detail, and the task's end reason.
"""

from __future__ import annotations

import argparse
from typing import Any

from fsworker.cli.common import (
    CliError,
    add_json,
    number_plan,
    open_store,
    parse_int,
    print_fields,
    print_json,
    print_table,
    show_seconds,
)
from fsworker.cli.main import EXIT_OK
from fsworker.core.errors import ValidationError
from fsworker.core.outcomes import TaskEndReason, TaskStatus
from fsworker.store.codec import lost_call_to_json
from fsworker.store.queue import AttemptView, TaskView

STATUSES = ", ".join(s.value for s in TaskStatus)
REASONS = ", ".join(r.value for r in TaskEndReason)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tasks", help="callback tasks: list, show, cancel")
    sub = p.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="list tasks, newest first")
    lst.add_argument("--status", metavar="STATUS", help=f"only tasks in this status: {STATUSES}")
    lst.add_argument("--number", metavar="NUMBER", help="only tasks for this customer number")
    lst.add_argument("--rule", metavar="NAME", help="only tasks of this rule")
    lst.add_argument("--reason", metavar="REASON", help=f"only tasks that ended so: {REASONS}")
    lst.add_argument("--since", metavar="WHEN", help="only tasks created at or after WHEN: 24h, 7d, 2026-12-01, "
                                                     "2026-12-01T09:00 (no offset: the display zone)")
    lst.add_argument("--until", metavar="WHEN", help="only tasks created before WHEN (same forms as --since)")
    lst.add_argument("--limit", metavar="N", default="100", help="at most N tasks (default 100)")
    add_json(lst)
    lst.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="a task with its lost calls and attempts")
    show.add_argument("task_id", metavar="ID")
    add_json(show)
    show.set_defaults(handler=cmd_show)
    cancel = sub.add_parser("cancel", help="cancel an open task")
    cancel.add_argument("task_id", metavar="ID")
    cancel.set_defaults(handler=cmd_cancel)


def _status(text: str | None) -> TaskStatus | None:
    if text is None:
        return None
    try:
        return TaskStatus(text)
    except ValueError:
        raise ValidationError("status", text, f"one of {STATUSES}") from None


def _reason(text: str | None) -> TaskEndReason | None:
    if text is None:
        return None
    try:
        return TaskEndReason(text)
    except ValueError:
        raise ValidationError("reason", text, f"one of {REASONS}") from None


def _attempt_json(a: AttemptView) -> dict[str, Any]:
    return {"attempt_no": a.attempt_no, "started_at": a.started_at, "ended_at": a.ended_at,
            "outcome": a.outcome.value if a.outcome else None, "detail": a.detail, "employee": a.employee,
            "worker": a.worker, "talk_s": a.talk_s, "call_uuids": list(a.call_uuids)}


def _task_json(t: TaskView) -> dict[str, Any]:
    return {"id": t.task_id, "customer_number": t.customer_number, "rule": t.rule_name, "status": t.status.value,
            "attempt_no": t.attempt_no, "due_at": t.due_at, "end_reason": t.end_reason.value if t.end_reason else None,
            "created_at": t.created_at, "ended_at": t.ended_at, "lease_owner": t.lease_owner,
            "lost_calls": list(t.lost_call_uuids), "attempts": [_attempt_json(a) for a in t.attempts]}


def cmd_list(args: argparse.Namespace) -> int:
    from fsworker.cli.timeopts import parse_moment

    status = _status(args.status)
    reason = _reason(args.reason)
    since = parse_moment(args.since, "since") if args.since else None
    until = parse_moment(args.until, "until") if args.until else None
    limit = parse_int(args.limit, "limit", lo=1, hi=100_000)
    plan = number_plan(args)
    number = None if args.number is None else plan.normalize(args.number, "number")
    with open_store(args) as store:
        tasks = store.queue.list_tasks(status=status, customer_number=number, rule_name=args.rule, limit=limit,
                                       end_reason=reason, created_since=since, created_until=until)
    if args.json:
        print_json([_task_json(t) for t in tasks])
        return EXIT_OK
    print_table(("id", "number", "rule", "status", "attempts", "due / ended", "reason"),
                [(t.task_id, plan.readable(t.customer_number), t.rule_name, t.status, len(t.attempts),
                  t.ended_at if t.status is TaskStatus.DONE else t.due_at, t.end_reason) for t in tasks],
                empty="no tasks")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    task_id = parse_int(args.task_id, "task id", lo=1)
    with open_store(args) as store:
        task = store.queue.get_task(task_id)
        calls = store.queue.lost_calls_for_task(task_id)
    if args.json:
        print_json({**_task_json(task), "lost_calls": [lost_call_to_json(c) for c in calls]})
        return EXIT_OK
    print_fields([
        ("task", task.task_id), ("customer", number_plan(args).readable(task.customer_number)),
        ("rule", task.rule_name),
        ("status", task.status), ("next attempt", task.attempt_no if task.status is not TaskStatus.DONE else None),
        ("due at", task.due_at if task.status is not TaskStatus.DONE else None), ("created at", task.created_at),
        ("ended at", task.ended_at), ("end reason", task.end_reason), ("worker", task.lease_owner),
    ])
    print("\nlost calls:")
    print_table(("call uuid", "lost at", "place", "number", "scenario", "site", "waited s"),
                [(c.call_uuid, c.lost_at, c.place, c.virtual_number, c.scenario, c.site, show_seconds(c.waited_s))
                 for c in calls], empty="  (none recorded)")
    print("\nattempts:")
    print_table(("#", "started", "ended", "outcome", "employee", "talk s", "detail"),
                [(a.attempt_no, a.started_at, a.ended_at, a.outcome or "in progress", a.employee,
                  show_seconds(a.talk_s), a.detail) for a in task.attempts],
                empty="  (none yet)")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    task_id = parse_int(args.task_id, "task id", lo=1)
    with open_store(args) as store:
        task = store.queue.get_task(task_id)
        if task.status is TaskStatus.DONE or not store.queue.cancel_task(task_id):
            ended = store.queue.get_task(task_id)
            reason = ended.end_reason.value if ended.end_reason else "done"
            raise CliError(f"task {task_id} has already ended ({reason}); nothing to cancel")
    print(f"task {task_id} cancelled" + (" (its attempt in progress will finish first)"
                                          if task.status is TaskStatus.ACTIVE else ""))
    return EXIT_OK
