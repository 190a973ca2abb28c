"""What a hint template may contain: a small language checked on Jinja2's parse tree.

Rules: a hint is a short phrase, so its language is small enough that no template can
run long or build a large string, and the check is a walk over the parse tree (never a
render) that takes microseconds. Allowed:

- text, and ``{{ expression }}`` / ``{# comment #}``;
- variables: the call facts (``facts.py``), a ``for`` loop's own variables and ``loop``
  (``loop.index``, ``loop.first``...); ``lost_at.hour`` and the like on the time of loss;
- literals (strings, numbers, lists of literals), ``~`` ``+`` ``-``, comparisons,
  ``and`` ``or`` ``not``, ``x if c else y``, ``x[0]`` and ``x[1:3]`` with literal bounds;
- filters from ``ALLOWED_FILTERS`` and tests from ``ALLOWED_TESTS``, with literal or
  variable arguments; at most ``MAX_REPLACE`` ``replace`` filters, each replacing with
  at most ``MAX_REPLACEMENT_CHARS`` characters;
- ``{% if %}`` / ``{% elif %}`` / ``{% else %}`` and one level of ``{% for x in v %}``
  over a variable or a literal list (no nested loops, no ``recursive``).

At most ``MAX_NODES`` elements in all, nested at most ``MAX_DEPTH`` deep. Refused, naming the construct: every call (``range()``, ``lipsum()``, ``cycler()``,
``'...'.format()``), ``*`` ``**`` ``/`` ``//`` ``%``, attribute access other than the
above, ``set`` / ``with`` / ``macro`` / ``call`` / ``filter`` blocks, ``include`` /
``import`` / ``extends`` / ``block``, dict literals, names that are not facts.
Pure; no I/O.
"""

from __future__ import annotations

from jinja2 import nodes

from fsworker.core.errors import FsworkerError

MAX_TEMPLATE_CHARS = 2000
MAX_REPLACE = 4
MAX_REPLACEMENT_CHARS = 20
MAX_LITERAL_INT = 1_000_000
MAX_NODES = 100
MAX_DEPTH = 12

#: filters whose output is at most a small multiple of their input
ALLOWED_FILTERS = frozenset({
    "digits", "strftime",  # ours (facts.py)
    "upper", "lower", "capitalize", "title", "trim", "truncate", "wordcount",
    "default", "d", "length", "count", "first", "last", "reverse",
    "string", "int", "abs", "round", "join", "replace",
})
ALLOWED_TESTS = frozenset({
    "defined", "undefined", "none", "number", "string", "integer", "boolean", "true", "false",
    "odd", "even", "divisibleby", "eq", "ne", "lt", "le", "gt", "ge", "in", "lower", "upper",
    "==", "!=", "<", "<=", ">", ">=", "equalto", "greaterthan", "lessthan",
})
#: attributes of the time of loss a template may read
DATETIME_ATTRS = frozenset({"year", "month", "day", "hour", "minute", "second"})
LOOP_ATTRS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})

ALLOWED_SUMMARY = ("variables (the call facts), filters (" + ", ".join(sorted(ALLOWED_FILTERS))
                   + "), if, and one level of for over a variable or a list")

_STATEMENTS = {
    nodes.Assign: "{% set %}", nodes.AssignBlock: "{% set %}...{% endset %}", nodes.With: "{% with %}",
    nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}", nodes.FilterBlock: "{% filter %}",
    nodes.Include: "{% include %}", nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}",
    nodes.Extends: "{% extends %}", nodes.Block: "{% block %}", nodes.ExprStmt: "{% do %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}", nodes.EvalContextModifier: "an eval-context block",
    nodes.Break: "{% break %}", nodes.Continue: "{% continue %}", nodes.Scope: "a scope block",
    nodes.OverlayScope: "an overlay scope",
}
_OPERATORS = {
    nodes.Mul: "the * operator", nodes.Pow: "the ** operator", nodes.Div: "the / operator",
    nodes.FloorDiv: "the // operator", nodes.Mod: "the % operator", nodes.Dict: "a dict literal",
}


class HintTemplateRefused(FsworkerError):
    """A hint template uses something outside the hint language (see the module rules)."""

    def __init__(self, construct: str, lineno: int | None, message: str | None = None) -> None:
        self.construct = construct
        self.lineno = lineno
        where = f"line {lineno}: " if lineno else ""
        what = message or f"{construct} is not allowed in a hint; a hint may use {ALLOWED_SUMMARY}"
        super().__init__(f"{where}{what}")


def check_template(tree: nodes.Template, facts: frozenset[str]) -> None:
    """Raise HintTemplateRefused for the first construct outside the hint language."""
    size = sum(1 for _ in tree.find_all(nodes.Node))
    if size > MAX_NODES:
        # compiling costs about 0.1 ms per element (once per process), outside the render budget
        raise HintTemplateRefused(f"a template of {size} elements", None,
                                  f"the template has {size} elements (variables, filters, literals, tags); "
                                  f"a hint may have at most {MAX_NODES}")
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        # compiling costs grow faster than the nesting (Jinja's optimizer recurses)
        raise HintTemplateRefused(f"nesting {depth} deep", None,
                                  f"the template nests {depth} deep (filters applied to filters, tags "
                                  f"inside tags); a hint may nest at most {MAX_DEPTH} deep")
    _Checker(facts).stmts(tree.body, names=facts, loop_depth=0)


def _depth(tree: nodes.Node) -> int:
    deepest = 0
    todo = [(tree, 1)]
    while todo:
        node, d = todo.pop()
        deepest = max(deepest, d)
        todo.extend((child, d + 1) for child in node.iter_child_nodes())
    return deepest


def _call_name(node: nodes.Call) -> str:
    f = node.node
    if isinstance(f, nodes.Name):
        return f"function call {f.name}()"
    if isinstance(f, nodes.Getattr):
        return f"method call .{f.attr}()"
    return "a function call"


class _Checker:
    def __init__(self, facts: frozenset[str]) -> None:
        self.facts = facts
        self.replaces = 0

    def refuse(self, construct: str, node: nodes.Node) -> HintTemplateRefused:
        return HintTemplateRefused(construct, getattr(node, "lineno", None))

    # --- statements -----------------------------------------------------------------------

    def stmts(self, body: list[nodes.Node], *, names: frozenset[str], loop_depth: int) -> None:
        for node in body:
            self.stmt(node, names=names, loop_depth=loop_depth)

    def stmt(self, node: nodes.Node, *, names: frozenset[str], loop_depth: int) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expr(child, names)
        elif isinstance(node, nodes.If):
            self.expr(node.test, names)
            self.stmts(node.body, names=names, loop_depth=loop_depth)
            for elif_ in node.elif_:
                self.stmt(elif_, names=names, loop_depth=loop_depth)
            self.stmts(node.else_, names=names, loop_depth=loop_depth)
        elif isinstance(node, nodes.For):
            self.for_(node, names=names, loop_depth=loop_depth)
        else:
            raise self.refuse(_STATEMENTS.get(type(node), f"a {type(node).__name__} statement"), node)

    def for_(self, node: nodes.For, *, names: frozenset[str], loop_depth: int) -> None:
        if loop_depth >= 1:
            raise self.refuse("a nested for loop", node)
        if node.recursive:
            raise self.refuse("a recursive for loop", node)
        if not isinstance(node.iter, (nodes.Name, nodes.List, nodes.Tuple, nodes.Filter, nodes.Getitem)):
            # the first thing in the way names itself: range(), a method call, an operator
            self.expr(node.iter, names)
            raise self.refuse("a for loop over anything but a variable or a list", node)
        self.expr(node.iter, names)
        targets = _target_names(node.target)
        if targets is None:
            raise self.refuse("a for loop target other than names", node)
        inner = names | targets | {"loop"}
        if node.test is not None:
            self.expr(node.test, inner)
        self.stmts(node.body, names=inner, loop_depth=loop_depth + 1)
        self.stmts(node.else_, names=names, loop_depth=loop_depth)

    # --- expressions ----------------------------------------------------------------------

    def expr(self, node: nodes.Node, names: frozenset[str]) -> None:  # noqa: C901 - one case per node type
        if isinstance(node, nodes.Const):
            self.const(node)
        elif isinstance(node, nodes.Name):
            if node.name not in names:
                known = ", ".join(sorted(n for n in names if n != "loop"))
                raise HintTemplateRefused(f"name {node.name!r}", node.lineno,
                                          f"{node.name!r} is undefined: a hint may use the call facts {known}")
        elif isinstance(node, (nodes.List, nodes.Tuple)):
            for item in node.items:
                self.expr(item, names)
        elif isinstance(node, nodes.Call):
            raise self.refuse(_call_name(node), node)
        elif type(node) in _OPERATORS:
            raise self.refuse(_OPERATORS[type(node)], node)
        elif isinstance(node, (nodes.Add, nodes.Sub, nodes.And, nodes.Or)):
            self.expr(node.left, names)
            self.expr(node.right, names)
        elif isinstance(node, (nodes.Not, nodes.Neg, nodes.Pos)):
            self.expr(node.node, names)
        elif isinstance(node, nodes.Concat):
            for part in node.nodes:
                self.expr(part, names)
        elif isinstance(node, nodes.Compare):
            self.expr(node.expr, names)
            for op in node.ops:
                self.expr(op.expr, names)
        elif isinstance(node, nodes.CondExpr):
            self.expr(node.test, names)
            self.expr(node.expr1, names)
            if node.expr2 is not None:
                self.expr(node.expr2, names)
        elif isinstance(node, nodes.Filter):
            self.filter(node, names)
        elif isinstance(node, nodes.Test):
            self.test(node, names)
        elif isinstance(node, nodes.Getattr):
            self.getattr(node, names)
        elif isinstance(node, nodes.Getitem):
            self.getitem(node, names)
        else:
            raise self.refuse(f"a {type(node).__name__} expression", node)

    def const(self, node: nodes.Const) -> None:
        v = node.value
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_LITERAL_INT:
            raise self.refuse(f"the number {v} (at most {MAX_LITERAL_INT})", node)
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise self.refuse(f"a {type(v).__name__} literal", node)

    def args(self, node: nodes.Filter | nodes.Test, names: frozenset[str]) -> None:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise self.refuse(f"*args / **kwargs in {node.name!r}", node)
        for a in (*node.args, *(kw.value for kw in node.kwargs)):
            if not isinstance(a, (nodes.Const, nodes.Name)):
                raise self.refuse(f"an argument of {node.name!r} other than a literal or a variable", a)
            self.expr(a, names)

    def filter(self, node: nodes.Filter, names: frozenset[str]) -> None:
        if node.name not in ALLOWED_FILTERS:
            raise self.refuse(f"filter {node.name!r}", node)
        if node.node is not None:
            self.expr(node.node, names)
        self.args(node, names)
        if node.name == "replace":
            self.replaces += 1
            if self.replaces > MAX_REPLACE:
                raise self.refuse(f"more than {MAX_REPLACE} replace filters", node)
            new = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(new, nodes.Const) and isinstance(new.value, str)
                    and len(new.value) <= MAX_REPLACEMENT_CHARS):
                raise self.refuse(f"replace with anything but a literal of at most {MAX_REPLACEMENT_CHARS} "
                                  "characters", node)

    def test(self, node: nodes.Test, names: frozenset[str]) -> None:
        if node.name not in ALLOWED_TESTS:
            raise self.refuse(f"test {node.name!r}", node)
        self.expr(node.node, names)
        self.args(node, names)

    def getattr(self, node: nodes.Getattr, names: frozenset[str]) -> None:
        owner = node.node
        if isinstance(owner, nodes.Name) and owner.name == "loop" and "loop" in names and node.attr in LOOP_ATTRS:
            return
        if isinstance(owner, nodes.Name) and owner.name == "lost_at" and node.attr in DATETIME_ATTRS:
            return
        raise self.refuse(f"attribute .{node.attr}", node)

    def getitem(self, node: nodes.Getitem, names: frozenset[str]) -> None:
        self.expr(node.node, names)
        arg = node.arg
        bounds = [arg] if not isinstance(arg, nodes.Slice) else [b for b in (arg.start, arg.stop, arg.step) if b]
        for bound in bounds:
            b = bound.node if isinstance(bound, (nodes.Neg, nodes.Pos)) else bound  # x[-4:]
            if not isinstance(b, nodes.Const) or not isinstance(b.value, int):
                raise self.refuse("an index other than a literal number", node)
            self.const(b)


def _target_names(target: nodes.Node) -> frozenset[str] | None:
    if isinstance(target, nodes.Name):
        return frozenset({target.name})
    if isinstance(target, nodes.Tuple) and all(isinstance(t, nodes.Name) for t in target.items):
        return frozenset(t.name for t in target.items)  # type: ignore[attr-defined]
    return None
