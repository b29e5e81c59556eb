"""Stable ids across builds, kept in a lock file beside the notes.

Each question gets an id once; later builds match every question to its old entry in
passes, like version control's rename detection: explicit aliases, then the same question
in the same file, then the same question anywhere (a move), then similarity (a rewording).
What is left is new (a fresh id) or gone (an orphan, reported once and dropped).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError, Diagnostic
from .records import Card
from .validate import bigrams, normalise_question

LOCK_VERSION = 1
Status = Literal["added", "changed", "unchanged", "renamed", "moved"]
_RENAME_SIMILARITY = 0.5
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class LockEntry:
    """One question's identity as the last build left it."""

    id: str
    """The stable id; also the Anki note guid."""
    path: str
    """File the question was in."""
    deck: str
    """Deck path (``::``-joined) the question was in."""
    question: str
    """Question text (Markdown) at the last build."""
    answer: str
    """sha256 of the answer Markdown, to recognise a reworded question by its answer."""
    digest: str
    """sha256 of everything the Anki note shows; a change bumps ``mod``."""
    mod: int
    """Note modification time (seconds) to stamp into the package."""


@dataclass(frozen=True)
class Match:
    """How one card found (or did not find) its id."""

    id: str
    """The id the card carries now."""
    status: Status
    """added / changed / unchanged / renamed (question reworded) / moved (file or deck)."""
    mod: int
    """Modification time for the note."""
    old_question: str = ""
    """For renamed cards: the question as it was."""
    similarity: float = 1.0
    """For renamed cards: how similar the match was (1.0 = explicit or exact)."""
    how: str = ""
    """For renamed and moved cards: which rule matched (alias, answer, similarity, moved)."""


@dataclass(frozen=True)
class Identity:
    """The identity stage's result."""

    cards: tuple[Card, ...]
    """The cards with their ids set."""
    matches: tuple[Match, ...]
    """Parallel to ``cards``."""
    orphans: tuple[LockEntry, ...]
    """Entries of the old lock whose question is gone."""
    lock: tuple[LockEntry, ...]
    """The new lock, sorted by id."""
    diagnostics: tuple[Diagnostic, ...]
    """Errors: two records claiming one id."""


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def note_digest(card: Card) -> str:
    """Hash of everything the note shows; it changes exactly when the note must update."""
    return _sha(
        card.question_html,
        card.answer_html,
        "::".join(card.deck),
        card.source.path,
        " ".join(card.tags),
    )


def new_id(card: Card, salt: int = 0) -> str:
    """A deterministic id for a new question: the same notes give the same ids in any clone."""
    n = int(_sha(card.source.path, card.question, str(salt))[:16], 16)
    chars = []
    for _ in range(10):
        n, r = divmod(n, 62)
        chars.append(_B62[r])
    return "cs" + "".join(chars)


# --- the lock file ------------------------------------------------------------------------


def read_lock(path: Path) -> tuple[LockEntry, ...]:
    """Entries of a lock file; none when it does not exist yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not a valid lock file ({exc}); restore it from version control"
        ) from exc
    if data.get("version") != LOCK_VERSION:
        raise ConfigError(f"{path}: lock version {data.get('version')!r}, expected {LOCK_VERSION}")
    try:
        return tuple(LockEntry(**entry) for entry in data["notes"])
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"{path}: malformed entry ({exc})") from exc


_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def lock_text(entries: Sequence[LockEntry]) -> str:
    """The lock file: sorted by id, one entry a line, so a diff shows one line per question."""
    rows = [_ENCODE(e.__dict__) for e in sorted(entries, key=lambda e: e.id)]
    body = ",\n".join(rows)
    return f'{{"version": {LOCK_VERSION}, "notes": [\n{body}\n]}}\n'


def lock_target(path: Path) -> Path:
    """Where the lock is really written: a symlinked lock is written through its link.

    Outputs replace a file by renaming a new one over it, which would turn the link into a
    plain file (and leave the shared lock it pointed at stale); the target is replaced
    instead.
    """
    return path.resolve() if path.is_symlink() else path


def write_lock(path: Path, entries: Sequence[LockEntry]) -> bool:
    """Write the lock (the old one or the new one, never half); False when it is unchanged."""
    from .export.outputs import Outputs  # the lock is written as the outputs are

    text = lock_text(entries)
    target = lock_target(path)
    try:
        if target.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (OSError, UnicodeDecodeError):
        pass  # read_lock has already refused a lock that cannot be read
    with Outputs(target.parent) as content:
        with content.open(target.name) as out:
            out.write(text.encode("utf-8"))
        content.commit()
    return True


# --- matching -----------------------------------------------------------------------------


def _entry(card: Card, digest: str, mod: int) -> LockEntry:
    return LockEntry(
        id=card.id,
        path=card.source.path,
        deck="::".join(card.deck),
        question=card.question,
        answer=_sha(card.answer),
        digest=digest,
        mod=mod,
    )


def _rename_candidates(
    cards: Sequence[Card], todo: list[int], old: Mapping[str, LockEntry]
) -> list[tuple[float, str, int, str]]:
    """(score, how, card index, old id) for every plausible rewording, best first."""
    by_answer: dict[str, list[str]] = defaultdict(list)
    index: dict[str, list[str]] = defaultdict(list)
    grams: dict[str, frozenset[str]] = {}
    for oid, entry in old.items():
        g = bigrams(normalise_question(entry.question))
        grams[oid] = g
        for gram in g:
            index[gram].append(oid)
        if entry.answer != _sha(""):
            by_answer[entry.answer].append(oid)
    pairs: list[tuple[float, str, int, str]] = []
    for i in todo:
        card = cards[i]
        g = bigrams(normalise_question(card.question))
        shared: dict[str, int] = defaultdict(int)
        for gram in g:
            for oid in index.get(gram, ()):
                shared[oid] += 1
        for oid, n in shared.items():
            score = n / (len(g) + len(grams[oid]) - n)
            if score >= _RENAME_SIMILARITY:
                pairs.append((score, "similar question", i, oid))
        if card.answered:
            for oid in by_answer.get(_sha(card.answer), ()):
                pairs.append((0.99, "same answer", i, oid))
    # Best score first; ties broken by source order so the result is deterministic.
    pairs.sort(key=lambda p: (-p[0], p[2], p[3]))
    return pairs


def _match(
    entry: LockEntry | None, card: Card, digest: str, now: int, how: str, score: float
) -> Match:
    """Status and modification time of a card that found its old entry (or an alias)."""
    if entry is None:  # an alias to an id the lock does not know (yet)
        return Match(card.id, "added", now)
    unchanged = entry.digest == digest
    # A changed note must be newer than in any earlier package, even within the same second.
    mod = entry.mod if unchanged else max(now, entry.mod + 1)
    if entry.question.strip() != card.question.strip():
        return Match(card.id, "renamed", mod, entry.question, score, how)
    if unchanged:
        return Match(card.id, "unchanged", mod)
    if (entry.path, entry.deck) != (card.source.path, "::".join(card.deck)):
        return Match(card.id, "moved", mod, how="moved")
    return Match(card.id, "changed", mod)


def assign(
    cards: Sequence[Card],
    previous: Sequence[LockEntry],
    aliases: Mapping[str, str] | None = None,
    now: int | None = None,
) -> Identity:
    """Give every card an id, matching it against the previous lock."""
    now = int(time.time()) if now is None else now
    old: dict[str, LockEntry] = {}
    diagnostics: list[Diagnostic] = []
    for entry in previous:
        if entry.id in old:
            diagnostics.append(
                Diagnostic(
                    "cardsmith.lock.json",
                    0,
                    "error",
                    f"id {entry.id} appears twice in the lock file",
                    "id-clash",
                )
            )
        old[entry.id] = entry
    chosen: dict[int, tuple[str, str, float]] = {}  # card index -> (old id, how, score)
    taken: dict[str, int] = {}

    def take(i: int, oid: str, how: str, score: float = 1.0) -> None:
        chosen[i] = (oid, how, score)
        taken[oid] = i

    # Pass 0: explicit aliases (question text -> id) for the hard cases.
    for i, card in enumerate(cards):
        oid = (aliases or {}).get(card.question)
        if oid is None:
            continue
        if oid in taken:
            other = cards[taken[oid]]
            for a, b in ((card, other), (other, card)):
                diagnostics.append(
                    Diagnostic(
                        a.source.path,
                        a.source.line,
                        "error",
                        f"id {oid} is claimed by two questions",
                        "id-clash",
                        (b.source.path, b.source.line),
                    )
                )
            continue
        take(i, oid, "alias")
    # Pass 1 and 2: the same question in the same file, then anywhere.
    for keyed in (
        lambda c, e: (c.source.path, c.question.strip()) == (e.path, e.question.strip()),
        lambda c, e: c.question.strip() == e.question.strip(),
    ):
        by_question: dict[str, list[str]] = defaultdict(list)
        for oid, entry in old.items():
            if oid not in taken:
                by_question[entry.question.strip()].append(oid)
        for i, card in enumerate(cards):
            if i in chosen:
                continue
            for oid in by_question.get(card.question.strip(), ()):
                if oid not in taken and keyed(card, old[oid]):
                    take(i, oid, "exact")
                    break
    # Pass 3: rewordings, best match first.
    todo = [i for i in range(len(cards)) if i not in chosen]
    free = {oid: e for oid, e in old.items() if oid not in taken}
    if todo and free:
        for score, how, i, oid in _rename_candidates(cards, todo, free):
            if i not in chosen and oid not in taken:
                take(i, oid, how, score)

    out_cards: list[Card] = []
    matches: list[Match] = []
    digests = [note_digest(card) for card in cards]
    used = set(old) | set(taken)
    for i, card in enumerate(cards):
        if i in chosen:
            oid, how, score = chosen[i]
            card = card.with_id(oid)
            matches.append(_match(old.get(oid), card, digests[i], now, how, score))
        else:
            salt = 0
            while (nid := new_id(card, salt)) in used:
                salt += 1
            used.add(nid)
            card = card.with_id(nid)
            matches.append(Match(nid, "added", now))
        out_cards.append(card)

    orphans = tuple(sorted((e for oid, e in old.items() if oid not in taken), key=lambda e: e.id))
    lock = tuple(
        sorted(
            (_entry(c, d, m.mod) for c, d, m in zip(out_cards, digests, matches, strict=True)),
            key=lambda e: e.id,
        )
    )
    return Identity(tuple(out_cards), tuple(matches), orphans, lock, tuple(diagnostics))
