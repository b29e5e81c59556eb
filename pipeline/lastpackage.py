"""What the last package carried: the next package's summary counts against it.

The summary of a build counts what Anki will see when it imports the package, and the
person imported the package built last, not the JSON or the PDF of a build in between.
Such a build writes the lock too, and a count against the lock alone called an answer
edited before it "unchanged" in the next package (Anki updates that note all the same).
So each package build keeps, in the cache folder, each note of its package: guid -> the
note's modification time (an import updates a note whose time in the package is newer
than its own) and its deck. The next package build counts against that, under
the same content folder; without it (a first package, no cache, another content folder)
against the lock. A sync forgets it: Anki then holds the notes as the lock records them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

from .cache import cache_folder, keep_later, read_kept
from .config import Config
from .records import Card, LockEntry

LAST_PACKAGE = "package.last"

#: guid -> (the note's modification time in seconds, its deck path), for each note.
Packed = Mapping[str, tuple[int, str]]


def _key(config: Config) -> str:
    """The memo holds for the content folder it was made of, whatever the code."""
    return hashlib.sha256(f"{LAST_PACKAGE}\0{config.content.resolve()}".encode()).hexdigest()


def last_package(config: Config) -> Packed | None:
    """The notes of the last package built of these notes (None: none is known)."""
    folder = cache_folder(config)
    payload = None if folder is None else read_kept(folder / LAST_PACKAGE, _key(config))
    if payload is None:
        return None
    try:
        packed = pickle.loads(payload)
    except Exception:  # a memo of another layout: counted against the lock, as without one
        return None
    return packed if isinstance(packed, dict) else None


def package_memo(
    config: Config, notes: Iterable[Card], last: Packed | None, orphans: Iterable[LockEntry]
) -> Path | None:
    """A temporary file in the cache folder holding the memo of a package of ``notes``, for
    the build to keep with its cache (``ParseCache.stage``); None without a cache folder.

    An import deletes no note: those the package leaves out (a question removed, or its
    answer) stay in Anki, and an answer given back updates its note. So the memo keeps the
    notes of ``last`` (the last package's memo) too, or, without it, those of the lock's
    ``orphans``.
    """
    folder = cache_folder(config)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)  # a first build's: saved with its cache
    except OSError:
        return None  # a cache that cannot be written is skipped, as the cache's own
    packed = dict(last) if last is not None else {e.id: (e.mod, e.deck) for e in orphans}
    packed.update((card.id, (card.matched.mod, card.deck.path)) for card in notes)
    payload = pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)
    return keep_later(folder, _key(config), payload, os.getpid())


def forget_last_package(config: Config) -> None:
    """After a sync: Anki holds the notes as the lock records them, not as a package did."""
    folder = cache_folder(config)
    if folder is not None:
        with contextlib.suppress(OSError):
            (folder / LAST_PACKAGE).unlink(missing_ok=True)
