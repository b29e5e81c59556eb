"""Refusing a build that looks like an accident rather than an edit.

An empty or half-synced notes folder, a branch switch or a wrong ``--content`` would
otherwise orphan every question, rewrite the lock without their ids and replace every
output with an empty one; a later build would give the questions new ids, cut off from
their Anki history. Deleting most questions at once is almost never an edit, so such a
build needs an explicit ``--allow-mass-orphan``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import CardsmithError, Diagnostic, quoted
from .records import Identity
from .syncplan import Plan, State

#: A build orphaning more than this share of the lock's entries is refused ...
MASS_SHARE = 0.5
#: ... when that is at least this many questions (a build finding no notes at all always is).
MASS_MINIMUM = 10
FLAG = "--allow-mass-orphan"


class MassOrphanError(CardsmithError):
    """The build would drop most of the lock file's ids; nothing was written."""


def _mass_orphan(identity: Identity, lock_path: Path) -> str | None:
    """Why a build of these cards would be refused ("would orphan …"); None when it would not."""
    # Only this build's doing: the lock keeps earlier orphans until they are resolved, and
    # counting them refused every build after one that was allowed to orphan most.
    orphaned = len(identity.new_orphans)
    # Every question of the last build is either orphaned now or carried by a card.
    kept = sum(1 for m in identity.matches if m.status != "added") + identity.carried
    before = orphaned + kept
    no_notes = orphaned > 0 and not identity.cards and not identity.carried
    most = orphaned > MASS_SHARE * before and orphaned >= MASS_MINIMUM
    if not (no_notes or most):
        return None
    found = len(identity.cards) + identity.carried
    return (
        f"would orphan {orphaned} of the {before} question(s) in {quoted(lock_path)}"
        f" ({found} question(s) found): are the notes all there? If this is what"
        f" you want, run cardsmith build (or sync) with {FLAG}"
    )


def refuse_mass_orphan(
    identity: Identity, lock_path: Path, allowed: bool, command: str = "build"
) -> None:
    """Raise :class:`MassOrphanError` when the build (or ``command``: a sync) would orphan
    most of the lock's ids."""
    why = None if allowed else _mass_orphan(identity, lock_path)
    if why is not None:
        raise MassOrphanError(f"this {command} {why}")


def mass_orphan_warning(identity: Identity, lock_path: Path) -> tuple[Diagnostic, ...]:
    """What ``check`` says when a build of these notes would be refused (nothing otherwise):
    a warning at the lock file, so a green check means a build that goes through."""
    why = _mass_orphan(identity, lock_path)
    if why is None:
        return ()
    return (Diagnostic(lock_path.name, 0, "warning", f"a build {why}", "mass-orphan"),)


def refuse_collection_orphans(
    plan: Plan, state: State, collection: str | Path, found: int, allowed: bool
) -> None:
    """Raise :class:`MassOrphanError` when ``plan`` would orphan or delete most of the
    cardsmith notes ``state`` found in the collection, as :func:`refuse_mass_orphan` does
    for the lock's questions. ``collection``: its path, or AnkiConnect's address;
    ``found``: the answered questions of the notes.

    The lock alone cannot tell: a wrong ``--content`` (an empty folder, another person's
    notes, a clone without its lock) has a lock that knows none of the collection's
    notes, and a sync from it orphaned all 3,200 of a collection's notes, or deleted them
    with ``--delete-orphans`` (the twenty-fourth trial).
    """
    if allowed:
        return
    live = sum(1 for note in state.notes.values() if not note.orphaned)
    gone = {note.guid for note in (*plan.orphan, *plan.delete) if not note.orphaned}
    if len(gone) < MASS_MINIMUM or len(gone) <= MASS_SHARE * live:
        return
    raise MassOrphanError(
        f"this sync would orphan {len(gone)} of the {live} cardsmith note(s) in "
        f"{quoted(collection)} ({found} question(s) found in the notes): is --content the "
        f"notes folder that was synced into it, with its cardsmith.lock.json? If this is "
        f"what you want, run cardsmith sync with {FLAG}"
    )
