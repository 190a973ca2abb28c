"""The README's promises about the running service, read from the README itself, so a
test built on them changes when the document does (and fails when the two disagree)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentedMetric:
    name: str  #: as exposed: counters with their ``_total``
    type: str  #: counter, gauge, histogram
    labels: frozenset[str]

    @property
    def family(self) -> str:
        """The family name prometheus_client's parser reports (no ``_total``)."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert m is not None, f"README has no '## {title}' section"
    return m.group(1)


def metric_table(path: Path = README) -> list[DocumentedMetric]:
    """Rows of the table under '## Metrics': ``| `name` [/ `name`] | type | labels | meaning |``."""
    rows = []
    for line in _section(path.read_text(encoding="utf-8"), "Metrics").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`fsworker_"):
            continue
        labels = frozenset(re.findall(r"`([a-z_]+)`", cells[2]))
        for name in re.findall(r"`(fsworker_[a-z_]+)`", cells[0]):
            rows.append(DocumentedMetric(name=name, type=cells[1], labels=labels))
    assert rows, "README's metric table is empty or unreadable"
    return rows
