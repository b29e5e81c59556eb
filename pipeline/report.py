"""The build summary: what was added, changed, renamed, orphaned and skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .identity import Identity, LockEntry, Match
from .records import Card

REPORT_NAME = "cardsmith.report.json"


@dataclass(frozen=True)
class BuildReport:
    """Summary of one build against the previous lock file."""

    counts: dict[str, int]
    """added / changed / unchanged / renamed / moved / orphaned / skipped."""
    renamed: tuple[tuple[Match, Card], ...]
    """Every match made by rewording or by explicit alias, with the card it matched."""
    orphans: tuple[LockEntry, ...]
    """Questions gone since the last build; Anki keeps their notes until deleted there."""
    skipped: tuple[Card, ...]
    """Unanswered questions: in cards.json, but no Anki card."""

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "renamed": [
                {
                    "id": m.id,
                    "from": m.old_question,
                    "to": c.question,
                    "how": m.how,
                    "similarity": round(m.similarity, 3),
                    "source": f"{c.source.path}:{c.source.line}",
                }
                for m, c in self.renamed
            ],
            "orphans": [{"id": e.id, "question": e.question, "path": e.path} for e in self.orphans],
            "skipped": [
                {"id": c.id, "question": c.question, "source": f"{c.source.path}:{c.source.line}"}
                for c in self.skipped
            ],
            "orphan_hint": "Anki never deletes notes on import. To remove orphans, search "
            'for them in Anki\'s browser as  "ID:<id>"  and delete them.',
        }

    def summary_lines(self) -> list[str]:
        c = self.counts
        lines = [
            f"{c['added']} added, {c['changed']} changed, {c['unchanged']} unchanged, "
            f"{c['renamed']} renamed, {c['moved']} moved, {c['orphaned']} orphaned, "
            f"{c['skipped']} skipped (unanswered)"
        ]
        for match, card in self.renamed:
            lines.append(
                f"  renamed ({match.how}, {match.similarity:.0%}): "
                f"{match.old_question[:30]} -> {card.question[:30]}"
            )
        for entry in self.orphans:
            lines.append(
                f"  orphaned: {entry.question[:40]} ({entry.path}); "
                f'Anki keeps it: search "ID:{entry.id}" to delete it'
            )
        return lines


def make_report(identity: Identity, skipped: tuple[Card, ...]) -> BuildReport:
    """The report of a build from its identity result."""
    counts: Counter[str] = Counter(m.status for m in identity.matches)
    keys = ("added", "changed", "unchanged", "renamed", "moved")
    totals = {k: counts[k] for k in keys}
    totals["orphaned"] = len(identity.orphans)
    totals["skipped"] = len(skipped)
    renamed = tuple(
        (m, c)
        for m, c in zip(identity.matches, identity.cards, strict=True)
        if m.status == "renamed"
    )
    return BuildReport(totals, renamed, identity.orphans, skipped)
