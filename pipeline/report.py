"""The build summary: what Anki will see, and what an import cannot do.

Counts are Anki's view of the package: new notes, updated notes, unchanged notes. Beside
them: rewordings, moves (old deck -> new deck; an import never moves cards), orphans kept
until resolved (with their likely successor and the ready ``[aliases]`` line when there is
one) and unanswered questions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import one_line
from .lastpackage import Packed
from .records import Card, Identity, LockEntry, Match, Successor

REPORT_NAME = "cardsmith.report.json"

IMPORT_NEVER_MOVES = (
    "an import never moves cards: Anki keeps them in their old deck (cardsmith sync moves them)"
)
DELETED_COMES_BACK = (
    "a note deleted in Anki comes back on the next import unless its question is removed: "
    "suspend a card you no longer want instead"
)


@dataclass(frozen=True)
class Moved:
    """A note whose question moved to another deck."""

    card: Card
    """The question as it is now."""
    old_deck: str
    """Its deck at the last build."""


@dataclass(frozen=True)
class BuildReport:
    """Summary of one build against the previous lock file."""

    counts: dict[str, int]
    """new / updated / unchanged (Anki notes), renamed / moved / orphaned / skipped."""
    renamed: tuple[tuple[Match, Card], ...]
    """Every match made by rewording or by explicit alias, with the card it matched."""
    orphans: tuple[LockEntry, ...]
    """Every unresolved orphan; Anki keeps their notes until deleted there."""
    skipped: tuple[Card, ...]
    """Unanswered questions: in cards.json, but no Anki card."""
    moved: tuple[Moved, ...] = ()
    """Notes whose deck changed (an import leaves their cards where they were)."""
    successors: tuple[Successor, ...] = ()
    """Orphans with a likely successor: the ``[aliases]`` line keeps their history."""
    unanswered: frozenset[str] = frozenset()
    """Ids of orphans whose question is still there without an answer."""
    new_orphans: frozenset[str] = frozenset()
    """Ids of the orphans this build made."""
    aliased: Mapping[str, str] = field(default_factory=dict)
    """Orphan id -> the id an ``[aliases]`` line gave its very question
    (:func:`aliased_orphans`)."""
    packaged: bool = True
    """Whether the build made a package (else the counts are those of the next one)."""
    since: str = "build"
    """What new, updated, unchanged and moved count against: ``package``, the last package
    built (:mod:`pipeline.lastpackage`), or ``build``, the last build or sync (the lock)."""

    def _successor(self, entry: LockEntry) -> Successor | None:
        return next((s for s in self.successors if s.orphan.id == entry.id), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "since": f"the last {self.since}",
            "package": self.packaged,
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
            "moved": [
                {"id": m.card.id, "question": m.card.question, "from": m.old_deck, "to": _deck(m)}
                for m in self.moved
            ],
            "orphans": [self._orphan_json(e) for e in self.orphans],
            "skipped": [
                {"id": c.id, "question": c.question, "source": f"{c.source.path}:{c.source.line}"}
                for c in self.skipped
            ],
            "orphan_hint": "Anki never deletes notes on import. cardsmith sync tags orphans "
            "cardsmith::orphan and suspends them; to delete one by hand, search for it "
            'in Anki\'s browser as  "ID:<id>"  (its reviews go with it).',
            "notes": [IMPORT_NEVER_MOVES, DELETED_COMES_BACK],
        }

    def _orphan_json(self, entry: LockEntry) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": entry.id,
            "question": entry.question,
            "path": entry.path,
            "deck": entry.deck,
            "why": "no longer answered" if entry.id in self.unanswered else "deleted",
            "new": entry.id in self.new_orphans,
        }
        successor = self._successor(entry)
        if successor is not None:
            out["likely_successor"] = {
                "id": successor.card.id,
                "question": successor.card.question,
                "source": f"{successor.card.source.path}:{successor.card.source.line}",
                "similarity": round(successor.similarity, 3),
                "same_place": successor.same_place,
                "alias": alias_line(successor),
            }
        return out

    def short_line(self) -> str:
        """The summary in a few words, for a line a save (``watch``): only what moved.

        ``166 note(s): 1 updated`` or ``166 note(s): no change``.
        """
        c = self.counts
        notes = c["new"] + c["updated"] + c["unchanged"]
        moved = [f"{c[k]} {k}" for k in ("new", "updated", "renamed", "moved", "orphaned") if c[k]]
        return f"{notes} note(s): {', '.join(moved) or 'no change'}"

    def summary_lines(self) -> list[str]:
        c = self.counts
        notes = c["new"] + c["updated"] + c["unchanged"]
        where = "in the package" if self.packaged else "for a package (this build made none)"
        lines = [
            f"Anki: {notes} notes {where}; since the last {self.since} {c['new']} new, "
            f"{c['updated']} updated, {c['unchanged']} unchanged; {c['renamed']} renamed, "
            f"{c['moved']} moved; {c['orphaned']} orphan(s) kept until resolved, "
            f"{c['skipped']} skipped (unanswered)"
        ]
        lines += [renamed_line(match, card) for match, card in self.renamed]
        for moved in self.moved:
            lines.append(f"  moved: {moved.card.question[:30]}: {moved.old_deck} -> {_deck(moved)}")
        if self.moved:
            lines.append(f"  note: {IMPORT_NEVER_MOVES}")
        for entry in self.orphans:
            alias = self.aliased.get(entry.id, "")
            lines += orphan_lines(entry, self.unanswered, self._successor(entry), alias)
        if c["new"] + c["updated"] + c["unchanged"]:
            lines.append(f"  note: {DELETED_COMES_BACK}")
        return lines


#: How a reworded question was matched -> how its line says it. Only a match by likeness
#: shows a share: the others' scores rank candidates (0.99 for the same answer), they
#: measure no likeness ("same answer, 99%" puzzled the eleventh trial).
_HOW_SAID: dict[str, Callable[[float], str]] = {
    "similar question": lambda share: f"similar question, {share:.0%}",
    "same place": lambda _share: "same place in its section",
}


def questions(n: int) -> str:
    """``n`` with "question" or "questions", as English counts them ("1 question")."""
    return f"{n} question" if n == 1 else f"{n} questions"


def renamed_line(match: Match, card: Card) -> str:
    """How a reworded question was matched to the question it was: a build's and a sync's
    line for it."""
    said = _HOW_SAID.get(match.how)
    how = said(match.similarity) if said else match.how
    old, new = told_apart(one_line(match.old_question), one_line(card.question))
    return f"  renamed ({how}): {old} -> {new}"


def told_apart(old: str, new: str, width: int = 30) -> tuple[str, str]:
    """Two wordings of a question, each cut to ``width`` characters where they differ (the
    first 30 of each read as one text twice when the rewording came later: the sixteenth
    trial); ``…`` marks a cut."""
    if len(old) <= width and len(new) <= width:
        return old, new
    pairs = zip(old, new, strict=False)  # up to the shorter
    differ = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(old), len(new)))
    start = 0 if differ < width - 5 else differ - width // 2  # with what comes before it

    def cut(text: str) -> str:
        shown = text[start : start + width]
        return ("…" if start else "") + shown + ("…" if start + width < len(text) else "")

    return cut(old), cut(new)


def renamed_in(identity: Identity) -> tuple[tuple[Match, Card], ...]:
    """The reworded questions of ``identity``, each with how it was matched."""
    return tuple(
        (m, c)
        for m, c in zip(identity.matches, identity.cards, strict=True)
        if m.status == "renamed"
    )


def _deck(moved: Moved) -> str:
    return moved.card.deck.path


def alias_line(successor: Successor) -> str:
    """The ``[aliases]`` line that gives the successor the orphan's id (and history)."""
    # A JSON string is a valid TOML basic string.
    question = json.dumps(successor.card.question, ensure_ascii=False)
    return f"{question} = {json.dumps(successor.orphan.id)}"


def aliased_orphans(identity: Identity, aliases: Mapping[str, str]) -> dict[str, str]:
    """Orphans whose very question an ``[aliases]`` line gave another id, which a card now
    holds: orphan id -> that id. Such an orphan is the id the question had until the alias
    was written, which only a package built in between carries (told apart from a real
    orphan since the eleventh trial)."""
    if not aliases:
        return {}
    held = {c.id for c in identity.cards}
    given = {q.strip(): i for q, i in aliases.items() if i in held}
    return {
        e.id: given[q]
        for e in identity.orphans
        if (q := e.question.strip()) in given and given[q] != e.id
    }


def orphan_lines(
    entry: LockEntry,
    unanswered: frozenset[str],
    successor: Successor | None,
    alias: str = "",
) -> list[str]:
    """How one orphan is listed: never the advice to delete one with a likely successor.

    ``alias``: the id an ``[aliases]`` line gave the orphan's very question
    (:func:`aliased_orphans`).
    """
    asked = one_line(entry.question, 40)
    if alias and entry.id not in unanswered:
        return [
            f"  orphaned: {asked} ({entry.path}); the id this question had "
            f"before [aliases] gave it {alias}. Only a package imported or a sync made in "
            f'between put it in Anki: if one did, search "ID:{entry.id}" there to delete '
            "that second note (a sync tags and suspends it, and --delete-orphans deletes "
            f"it); if not, cardsmith orphans --forget {entry.id}"
        ]
    if entry.id in unanswered:
        return [
            f"  no longer answered: {asked} ({entry.path}); Anki keeps the old "
            "answer (cardsmith sync suspends the card)"
        ]
    if successor is not None:
        where = f"{successor.card.source.path}:{successor.card.source.line}"
        alike = f"question {successor.similarity:.0%} alike"
        why = f"the same place in its section, {alike}" if successor.same_place else alike
        return [
            f"  orphaned: {asked} ({entry.path}); probably now "
            f"{one_line(successor.card.question, 40)} ({where}: {why}). To keep its history, add "
            f"to cardsmith.toml under [aliases]:",
            f"    {alias_line(successor)}",
        ]
    # A build cannot know whether a sync has suspended it already: both ways are named.
    return [
        f"  orphaned: {asked} ({entry.path}); Anki keeps its note (cardsmith "
        f'sync tags and suspends it; after an import, suspend it), or search "ID:{entry.id}" '
        "to delete it with its reviews"
    ]


def orphan_listing(identity: Identity, aliases: Mapping[str, str]) -> list[str]:
    """Every orphan, as ``cardsmith orphans`` lists them: id first, then as the summary does
    (``aliases``: the settings' ``[aliases]``)."""
    current = {c.id for c in identity.cards}
    unanswered = frozenset(e.id for e in identity.orphans if e.id in current)
    lines = [f"{len(identity.orphans)} orphan(s)"]
    aliased = aliased_orphans(identity, aliases)
    for entry in identity.orphans:
        successor = next((s for s in identity.successors if s.orphan.id == entry.id), None)
        first, *rest = orphan_lines(entry, unanswered, successor, aliased.get(entry.id, ""))
        lines += [f"{entry.id}  {first.strip()}", *rest]
    return lines


def make_report(
    identity: Identity,
    skipped: tuple[Card, ...],
    aliases: Mapping[str, str] | None = None,
    *,
    packaged: bool = True,
    last: Packed | None = None,
) -> BuildReport:
    """The report of a build from its identity result (``aliases``: the settings').

    ``packaged``: the build made a package. ``last``: the notes of the last package
    (:func:`~pipeline.lastpackage.last_package`), which new, updated, unchanged and moved
    count against; None: against the lock, as the identity stage matched them.
    """
    no_note = {c.id for c in skipped}
    totals = dict.fromkeys(("new", "updated", "unchanged", "renamed", "moved"), 0)
    moved = []
    for match, card in zip(identity.matches, identity.cards, strict=True):
        if card.id in no_note:
            continue
        kind, old_deck = _since_package(card, last) if last is not None else _since_lock(match)
        totals[kind] += 1
        if match.status == "renamed":
            totals["renamed"] += 1
        if old_deck and old_deck != card.deck.path:
            totals["moved"] += 1
            moved.append(Moved(card, old_deck))
    totals["orphaned"] = len(identity.orphans)
    totals["skipped"] = len(skipped)
    renamed = renamed_in(identity)
    current = {c.id for c in identity.cards}
    return BuildReport(
        totals,
        renamed,
        identity.orphans,
        skipped,
        tuple(moved),
        identity.successors,
        frozenset(e.id for e in identity.orphans if e.id in current),
        identity.new_orphans,
        aliased_orphans(identity, aliases or {}),
        packaged,
        "package" if last is not None else "build",
    )


def _since_lock(match: Match) -> tuple[str, str]:
    """New, updated or unchanged against the lock, and the deck it had there ("": none)."""
    if match.status == "added" or not match.was_note:
        return "new", ""  # a question that gains an answer is a new card in Anki
    return ("unchanged" if match.status == "unchanged" else "updated"), match.old_deck


def _since_package(card: Card, last: Packed) -> tuple[str, str]:
    """New, updated or unchanged against the last package, and its deck there."""
    held = last.get(card.id)
    if held is None:
        return "new", ""
    # Anki's own rule: an import updates a note whose time in the package is newer.
    return ("updated" if card.matched.mod > held[0] else "unchanged"), held[1]
