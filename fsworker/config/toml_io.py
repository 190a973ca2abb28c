"""The whole configuration (a Catalog) as TOML, so rules can live in git.

Rules: pure text <-> Catalog, no I/O. ``catalog_to_toml`` writes a canonical document
(entities ordered as given, rules in priority order, positions implied by order, unset
values left out); ``parse_catalog`` reads it back to an equal Catalog, so export ->
import -> export gives the same text. Parsing never stops at the first problem: every
unknown key, wrong type, invalid value (model validation), broken hint template and
cross-object problem (``fsworker.core.validation.check_catalog``) is reported with its place,
e.g. ``rules[2].intervals``. There is no TOML writer in our dependencies, so a small one
for exactly the subset emitted here lives below; its strings are escaped per TOML 1.0.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Hint,
    Rule,
    Scenario,
    Schedule,
    Settings,
    Site,
    VirtualNumber,
)
from fsworker.core.numbering import NO_REGION, NumberPlan
from fsworker.core.schedule.text import (
    format_exception,
    format_weekly,
    parse_exception,
    parse_weekly,
)
from fsworker.core.validation import CatalogError, Problem, check_catalog

FORMAT_VERSION = 1

# --- TOML writing ---------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """A TOML basic string: backslash, quote and every control character escaped."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_multiline(value: str) -> str:
    """Multi-line text (hint templates) as a ''' literal when that is exact, so a diff
    in git shows lines; otherwise a basic string."""
    literal_ok = (
        "\n" in value
        and "'''" not in value
        and not value.endswith("'")
        and all(ch in "\n\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F) for ch in value)
    )
    # a newline right after the opening ''' is dropped by TOML, so always start with one
    return f"'''\n{value}'''" if literal_ok else toml_string(value)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_multiline(value) if "\n" in value else toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


# --- Catalog <-> plain dicts (also the --json shape of the CLI) ----------------------------


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": rule.name,
        "enabled": rule.enabled,
        "place": rule.place.value,
        "place_value": rule.place_value,
        "strategy": str(rule.strategy),
        "target": rule.target,
        "hint_kind": rule.hint.kind.value,
        "hint_text": rule.hint.text or None,
        "hint_language": rule.hint.language,
        "callback_schedule": rule.callback_schedule,
        "applies_schedule": rule.applies_schedule,
        "intervals": list(rule.intervals),
        "min_wait_s": rule.min_wait_s,
        "max_concurrent": rule.max_concurrent,
    }
    return {k: v for k, v in d.items() if v is not None}


def entity_to_dict(entity: Any) -> dict[str, Any]:
    if isinstance(entity, Employee):
        return {"name": entity.name, "endpoints": list(entity.endpoints)}
    if isinstance(entity, Group):
        return {"name": entity.name, "members": list(entity.members), "max_lines": entity.max_lines}
    if isinstance(entity, Campaign):
        return {"name": entity.name, "target_kind": entity.target_kind.value, "target": entity.target}
    if isinstance(entity, Scenario):
        return {"name": entity.name, "extension": entity.extension, "context": entity.context}
    if isinstance(entity, VirtualNumber):
        return {"number": entity.number, "description": entity.description}
    if isinstance(entity, Site):
        return {"name": entity.name}
    if isinstance(entity, Schedule):
        return {"name": entity.name, "timezone": entity.timezone, "weekly": format_weekly(entity.windows),
                "exceptions": [format_exception(e) for e in sorted(entity.exceptions, key=lambda e: e.day)]}
    if isinstance(entity, BlacklistEntry):
        return {"number": entity.number, "reason": entity.reason}
    if isinstance(entity, Rule):
        return rule_to_dict(entity)
    raise TypeError(f"not a catalog entity: {type(entity).__name__}")


#: TOML array name -> Catalog attribute, in the order they are written (dependencies first)
COLLECTIONS = ("employees", "groups", "campaigns", "scenarios", "virtual_numbers", "sites",
               "schedules", "blacklist", "rules")


def catalog_to_toml(catalog: Catalog) -> str:
    lines = [
        "# fsworker configuration: entities, rules (in priority order), blacklist, master switch.",
        "# Load it with `fsworker import FILE --replace`; check it with `fsworker check --catalog FILE`.",
        f"format = {FORMAT_VERSION}",
        "",
        "[settings]",
        f"enabled = {toml_value(catalog.settings.enabled)}",
    ]
    for name in COLLECTIONS:
        items = catalog.ordered_rules() if name == "rules" else getattr(catalog, name)
        for item in items:
            lines += ["", f"[[{name}]]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in entity_to_dict(item).items()]
    return "\n".join(lines) + "\n"


# --- parsing -------------------------------------------------------------------------------

_STR, _INT, _BOOL, _STRS, _INTS = "a string", "an integer", "true or false", "a list of strings", "a list of integers"


def _is(kind: str, v: Any) -> bool:
    if kind == _STR:
        return isinstance(v, str)
    if kind == _INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == _BOOL:
        return isinstance(v, bool)
    if kind == _STRS:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)


# collection -> {key: (type, required)}
_SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "employees": {"name": (_STR, True), "endpoints": (_STRS, True)},
    "groups": {"name": (_STR, True), "members": (_STRS, True), "max_lines": (_INT, False)},
    "campaigns": {"name": (_STR, True), "target_kind": (_STR, True), "target": (_STR, True)},
    "scenarios": {"name": (_STR, True), "extension": (_STR, True), "context": (_STR, False)},
    "virtual_numbers": {"number": (_STR, True), "description": (_STR, False)},
    "sites": {"name": (_STR, True)},
    "schedules": {"name": (_STR, True), "timezone": (_STR, True), "weekly": (_STR, False),
                  "exceptions": (_STRS, False)},
    "blacklist": {"number": (_STR, True), "reason": (_STR, False)},
    "rules": {"name": (_STR, True), "enabled": (_BOOL, False), "place": (_STR, False),
              "place_value": (_STR, False), "strategy": (_STR, True), "target": (_STR, False),
              "hint_kind": (_STR, False), "hint_text": (_STR, False), "hint_language": (_STR, False),
              "callback_schedule": (_STR, False), "applies_schedule": (_STR, False),
              "intervals": (_INTS, False), "min_wait_s": (_INT, False), "max_concurrent": (_INT, False)},
}


def _schedule(d: dict[str, Any]) -> Schedule:
    windows = parse_weekly(d.get("weekly", ""), "schedule.weekly")
    exceptions = []
    seen: set[Any] = set()
    for j, text in enumerate(d.get("exceptions", [])):
        exc = parse_exception(text, f"schedule.exceptions[{j}]")
        if exc.day in seen:
            raise ValidationError(f"schedule.exceptions[{j}]", text, "each date at most once")
        seen.add(exc.day)
        exceptions.append(exc)
    return Schedule(name=d["name"], timezone=d["timezone"], windows=windows,
                    exceptions=tuple(sorted(exceptions, key=lambda e: e.day)))


def rule_from_dict(d: dict[str, Any], position: int = 0) -> Rule:
    hint = Hint(kind=d.get("hint_kind", "default"), text=d.get("hint_text", ""), language=d.get("hint_language", "ru"))
    return Rule(
        name=d["name"], place=d.get("place", "any"), place_value=d.get("place_value"), strategy=d["strategy"],
        target=d.get("target"), hint=hint, callback_schedule=d.get("callback_schedule"),
        applies_schedule=d.get("applies_schedule"), intervals=tuple(d.get("intervals", [0])),
        min_wait_s=d.get("min_wait_s", 0), max_concurrent=d.get("max_concurrent", 1),
        enabled=d.get("enabled", True), position=position,
    )


_BUILD: dict[str, Callable[[dict[str, Any]], Any]] = {
    "employees": lambda d: Employee(name=d["name"], endpoints=tuple(d["endpoints"])),
    "groups": lambda d: Group(name=d["name"], members=tuple(d["members"]), max_lines=d.get("max_lines", 1)),
    "campaigns": lambda d: Campaign(name=d["name"], target_kind=d["target_kind"], target=d["target"]),
    "scenarios": lambda d: Scenario(name=d["name"], extension=d["extension"], context=d.get("context", "default")),
    "virtual_numbers": lambda d: VirtualNumber(number=d["number"], description=d.get("description", "")),
    "sites": lambda d: Site(name=d["name"]),
    "schedules": _schedule,
    "blacklist": lambda d: BlacklistEntry(number=d["number"], reason=d.get("reason", "")),
}


def _place(prefix: str, exc: ValidationError) -> str:
    """``rule.intervals[3]`` raised for rules[2] -> ``rules[2].intervals[3]``; a rule's
    ``hint.kind`` / ``hint.text`` (raised by Hint) -> the file's key ``hint_kind`` / ``hint_text``."""
    head, dot, rest = exc.field.partition(".")
    if head == "hint" and dot:
        return f"{prefix}.hint_{rest}"
    return f"{prefix}.{rest}" if dot else f"{prefix}.{exc.field}"


def _unknown_key(place: str, key: str, known: Iterable[str]) -> Problem:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(sorted(known))
    return Problem(path=f"{place}.{key}" if place else key, value=key, limit=f"unknown key; {hint}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedCatalog:
    catalog: Catalog
    sections: frozenset[str]  #: top-level tables present in the file ("settings", "rules"...)


#: free-text keys the model does not check: shown in lists, so no control characters
_FREE_TEXT = frozenset({"description", "reason"})


def _control_characters(key: str, value: Any) -> str | None:
    """TOML's \\u0000 escape can put a NUL in any string: no database text column takes
    it (PostgreSQL refuses it outright). Free text is shown on terminals: no control
    characters there at all. None when ``value`` is fine, else the limit."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if not isinstance(text, str):
            continue
        if "\x00" in text:
            return "no NUL characters"
        if key in _FREE_TEXT and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text if ch != "\t"):
            return "no control characters (tab is allowed)"
    return None


def _check_entry(name: str, i: int, entry: Any, problems: list[Problem]) -> tuple[bool, bool]:
    """(can it be built?, is it free of problems?) — an unknown key does not stop the
    entry being built, so its other problems are reported too."""
    place = f"{name}[{i}]"
    if not isinstance(entry, dict):
        problems.append(Problem(path=place, value=entry, limit=f"a [[{name}]] table"))
        return False, False
    ok = True
    clean = True
    schema = _SCHEMA[name]
    for key, value in entry.items():
        if key not in schema:
            problems.append(_unknown_key(place, key, schema))
            clean = False
        elif not _is(schema[key][0], value):
            problems.append(Problem(path=f"{place}.{key}", value=value, limit=schema[key][0]))
            ok = False
        elif (bad := _control_characters(key, value)) is not None:
            problems.append(Problem(path=f"{place}.{key}", value=value, limit=bad))
            ok = False
    for key, (_kind, required) in schema.items():
        if required and key not in entry:
            problems.append(Problem(path=f"{place}.{key}", value=None, limit="is required"))
            ok = False
    return ok, ok and clean


def parse_catalog(text: str, *, hint_check: Callable[[Hint, str], None] | None = None,
                  cross_check: bool = True, numbers: NumberPlan = NO_REGION) -> ParsedCatalog:
    """TOML text -> Catalog; CatalogError listing every problem otherwise.

    ``cross_check=False`` leaves out ``check_catalog`` (references, unique names): for a
    file merged into the database, whose references may be to stored entities, the
    caller validates the merged result instead.

    ``hint_check(hint, field)`` (normally ``prompts.validate_hint``) is run on every
    rule's hint so that a broken template is refused at import, not at call time.

    ``numbers`` turns every number in the file into its identity first (E.164 under a
    region), so a file may spell numbers as people do."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError([Problem(path="(toml)", value=str(exc), limit="valid TOML")]) from None
    problems: list[Problem] = []
    for key in doc:
        if key not in (*COLLECTIONS, "settings", "format"):
            problems.append(_unknown_key("", key, (*COLLECTIONS, "settings", "format")))
    if doc.get("format", FORMAT_VERSION) != FORMAT_VERSION:
        problems.append(Problem(path="format", value=doc["format"], limit=f"{FORMAT_VERSION} (this fsworker's format)"))
    settings = Settings()
    raw_settings = doc.get("settings", {})
    if not isinstance(raw_settings, dict):
        problems.append(Problem(path="settings", value=raw_settings, limit="a [settings] table"))
    else:
        for key, value in raw_settings.items():
            if key != "enabled":
                problems.append(_unknown_key("settings", key, ("enabled",)))
            elif not isinstance(value, bool):
                problems.append(Problem(path="settings.enabled", value=value, limit=_BOOL))
            else:
                settings = Settings(enabled=value)
    built: dict[str, list[Any]] = {}
    construction_failed = False
    for name in COLLECTIONS:
        entries = doc.get(name, [])
        if not isinstance(entries, list):
            problems.append(Problem(path=name, value=entries, limit=f"[[{name}]] tables"))
            construction_failed = True
            continue
        items = built.setdefault(name, [])
        for i, entry in enumerate(entries):
            buildable, clean = _check_entry(name, i, entry, problems)
            construction_failed |= not clean
            if not buildable:
                continue
            try:
                read = _numbers_read(name, entry, numbers)
                item = rule_from_dict(read, position=i) if name == "rules" else _BUILD[name](read)
                if name == "rules" and hint_check is not None:
                    hint_check(item.hint, f"rules[{i}].hint")
            except ValidationError as exc:
                place = exc.field if exc.field.startswith(f"rules[{i}]") else _place(f"{name}[{i}]", exc)
                if place.endswith((".hint.text", ".hint.file")):  # both are written as hint_text
                    place = place[: -len(".hint.text")] + ".hint_text"
                elif place.endswith(".hint.language"):
                    place = place[: -len(".hint.language")] + ".hint_language"
                problems.append(Problem(path=place, value=exc.value, limit=exc.limit))
                construction_failed = True
                continue
            items.append(item)
    catalog = Catalog(settings=settings, **{k: tuple(v) for k, v in built.items()})
    # Cross-object paths index the built lists; with an entry missing they would point
    # at the wrong entries, so cross-object checks wait until every entry is valid.
    if cross_check and not construction_failed:
        problems += check_catalog(catalog)
    if problems:
        raise CatalogError(problems)
    return ParsedCatalog(catalog=catalog, sections=frozenset(doc))


# The keys holding numbers in each collection, and when they hold one.
_NUMBER_KEYS: dict[str, tuple[tuple[str, Callable[[dict[str, Any]], bool], str], ...]] = {
    "blacklist": (("number", lambda d: True, "blacklist.number"),),
    "virtual_numbers": (("number", lambda d: True, "virtual_number.number"),),
    "campaigns": (("target", lambda d: d.get("target_kind") == "number", "campaign.target"),),
    "rules": (("place_value", lambda d: d.get("place") == "number", "rule.place_value"),
              ("target", lambda d: d.get("strategy") == "number", "rule.target")),
}


def _numbers_read(name: str, entry: dict[str, Any], numbers: NumberPlan) -> dict[str, Any]:
    """``entry`` with its numbers as identities, before the model (which takes only
    digits and '+') sees them; errors name the model's field."""
    out = dict(entry)
    for key, holds, field in _NUMBER_KEYS.get(name, ()):
        if isinstance(out.get(key), str) and out[key] and holds(out):
            out[key] = numbers.normalize(out[key], field)
    return out


def merge_catalogs(current: Catalog, incoming: ParsedCatalog) -> Catalog:
    """Import without --replace: entities and rules of the file are added or replace
    the ones with the same name; everything else is kept. New rules go last, in file
    order; a rule already present keeps its position."""
    new = incoming.catalog

    def merged(name: str, key: Callable[[Any], str]) -> tuple[Any, ...]:
        theirs = list(getattr(new, name))
        out = []
        for x in getattr(current, name):
            match = next((i for i, y in enumerate(theirs) if key(y) == key(x)), None)
            out.append(x if match is None else theirs.pop(match))
        # a name the file repeats stays repeated, so validate_catalog refuses it
        return tuple(out + theirs)

    rules = merged("rules", lambda r: r.name)
    return Catalog(
        employees=merged("employees", lambda e: e.name),
        groups=merged("groups", lambda g: g.name),
        campaigns=merged("campaigns", lambda c: c.name),
        scenarios=merged("scenarios", lambda s: s.name),
        virtual_numbers=merged("virtual_numbers", lambda v: v.number),
        sites=merged("sites", lambda s: s.name),
        schedules=merged("schedules", lambda s: s.name),
        blacklist=merged("blacklist", lambda b: b.number),
        rules=tuple(r.evolve(position=i) for i, r in enumerate(rules)),
        settings=new.settings if "settings" in incoming.sections else current.settings,
    )
