"""The README's metric table and the code's metric definitions are the same list:
every metric fsworker defines is documented with its type and labels, and every
documented one exists (issue 17, item 2)."""

from __future__ import annotations

from prometheus_client.metrics import MetricWrapperBase

from fsworker.service.metrics import Metrics
from tests.blackbox.readme import DocumentedMetric, metric_table


def defined_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Exposed name -> (type, label names), from a fresh ``Metrics`` object."""
    metrics = Metrics(version="test")
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            # Counter._name has no _total; the exposed sample name does
            name = value._name + ("_total" if value._type == "counter" else "")  # noqa: SLF001
            found[name] = (value._type, frozenset(value._labelnames))  # noqa: SLF001
    # custom collectors (pending tasks asked at scrape time) describe themselves
    for collector in list(metrics.registry._collector_to_names):  # noqa: SLF001
        if isinstance(collector, MetricWrapperBase):
            continue
        for family in collector.describe():
            found[family.name] = (family.type, frozenset())
    return found


def test_every_defined_metric_is_in_the_readme_table_and_back() -> None:
    documented = {m.name: m for m in metric_table()}
    defined = defined_metrics()
    assert sorted(defined) == sorted(documented), (
        f"defined, not documented: {sorted(set(defined) - set(documented))}; "
        f"documented, not defined: {sorted(set(documented) - set(defined))}")
    for name, (kind, labels) in defined.items():
        doc: DocumentedMetric = documented[name]
        assert (doc.type, doc.labels) == (kind, labels), f"{name}: README says {doc}, code has {kind} {sorted(labels)}"


def test_the_table_parser_reads_what_it_should() -> None:
    # guards the guard: a parser that read nothing would make the test above vacuous
    rows = {m.name: m for m in metric_table()}
    assert rows["fsworker_esl_events_total"].labels == {"node", "event"}
    assert rows["fsworker_tasks_joined_total"].type == "counter"
    assert rows["fsworker_loss_to_callback_seconds"].labels == frozenset()
    assert len(rows) >= 16
