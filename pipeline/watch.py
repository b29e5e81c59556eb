"""Build on every save: what ``cardsmith watch`` and ``cardsmith preview`` run on.

:class:`Saves` waits for the next change to the notes (watchfiles: inotify on Linux, the
native watcher elsewhere); :class:`Session` rebuilds and compares the diagnostics with the
previous build's, so a person sees what their last save added or fixed, not the same
thirty warnings again. A diagnostic is the same one when only its line moved (an edit
above it shifts every later line of the file).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles

from .build import Resident, build
from .cache import CACHE_DIR
from .config import load_config
from .errors import CardsmithError, ContentError, Diagnostic

#: Longest wait, in ms, for a burst of saves (an editor writing a file in several steps,
#: ``git checkout``) to end before the build starts.
DEBOUNCE_MS = 400
_TICK_MS = 200  # how often the watcher thread looks up from waiting
_READY_TIMEOUT_S = 10.0


def _same(d: Diagnostic) -> tuple[object, ...]:
    """What makes two diagnostics the same problem: everything but where the lines are."""
    return (d.path, d.severity, d.code, d.message, d.related and d.related[0])


def linked(content: Path) -> tuple[Path, ...]:
    """Where the links inside the content folder lead, when that is outside it.

    A build follows links to notes and to folders of notes (``sources.discover``), so a
    watch must see saves there too: the watcher watches only the folders it is given.
    Links made after the watch started are seen once it is started again (README).
    """
    root = content.resolve()
    found: set[Path] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in (*dirs, *files):
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling, or a loop: discover reports it
                continue
            if target != root and root not in target.parents:
                found.add(target)
    return tuple(sorted(found))


def ignored(
    content: Path, out: Path, outside: tuple[Path, ...] = ()
) -> Callable[[watchfiles.Change, str], bool]:
    """A filter for watchfiles: True for a change that should start a build.

    The build's own writes are left out: the temporary files beside the lock (dotfiles, as
    every file ``discover`` skips), and the output folder and cache when they lie inside
    the content folder. The lock file itself counts: a lock restored from version control
    must be built from; :meth:`Session.news` tells the build's own write of it apart.
    Everything else counts too: notes, settings and images, and outside the folder the
    files and folders its links lead to (``outside``), nothing else.
    """
    content = content.resolve()
    skip = (out.resolve(), out.resolve().parent / CACHE_DIR)
    base = watchfiles.DefaultFilter()

    def wanted(change: watchfiles.Change, path: str) -> bool:
        where = Path(path)
        if not base(change, path):
            return False
        if any(where == s or s in where.parents for s in skip):
            return False
        try:
            inside = where.relative_to(content).parts
        except ValueError:  # a linked note, or a note in a linked folder, or not ours
            return any(where == t or t in where.parents for t in outside)
        return not any(part.startswith(".") for part in inside)

    return wanted


class Saves:
    """The changes below a content folder, watched from the moment this object is made.

    A thread runs the watcher, so a save during a build is never missed: it waits in a
    queue, and the saves of one build's time are taken together. The constructor returns
    once the watcher is running. Iterating waits for the next batch; in the main thread,
    Ctrl-C raises :class:`KeyboardInterrupt` there. ``close()`` (or leaving the ``with``
    block) stops the watcher.
    """

    def __init__(self, content: Path, out: Path) -> None:
        outside = linked(content) if content.is_dir() else ()
        self._content, self._filter = content, ignored(content, out, outside)
        # A linked note is watched through its folder: editors save by replacing the file.
        self._folders = sorted({t if t.is_dir() else t.parent for t in outside})
        self._queue: queue.Queue[set[str] | BaseException] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cardsmith-watch", daemon=True)
        self._thread.start()
        self._ready.wait(_READY_TIMEOUT_S)

    def _run(self) -> None:
        try:
            for changes in watchfiles.watch(
                self._content,
                *self._folders,
                watch_filter=self._filter,
                debounce=DEBOUNCE_MS,
                stop_event=self._stop,
                rust_timeout=_TICK_MS,
                yield_on_timeout=True,  # an empty batch first: the watcher is running
                raise_interrupt=False,
            ):
                self._ready.set()
                if changes:
                    self._queue.put({path for _change, path in changes})
        except BaseException as exc:  # the folder was removed, the watcher failed
            self._queue.put(exc)
        finally:
            self._ready.set()

    def __iter__(self) -> Iterator[set[str]]:
        while True:
            first = self._get()
            while not self._queue.empty():
                first |= self._get()
            yield first

    def _get(self) -> set[str]:
        while True:
            try:
                item = self._queue.get(timeout=0.2)  # short waits: Ctrl-C gets through
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout=_READY_TIMEOUT_S)

    def __enter__(self) -> Saves:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Outcome:
    """One build of a watch session, against the one before it."""

    ok: bool
    """The outputs were written."""
    summary: str
    """One line: what the build did or why it stopped."""
    new: tuple[Diagnostic, ...] = ()
    """Diagnostics the previous build did not have, sorted by file and line."""
    fixed: tuple[Diagnostic, ...] = ()
    """Diagnostics of the previous build that are gone (their lines as they were)."""
    seconds: float = 0.0
    """How long the build took."""


#: The code of a watch's own problem: the settings (or the folder) could not be read.
SETTINGS_UNREAD = "settings"


def _counts(diagnostics: tuple[Diagnostic, ...]) -> str:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    return f"{errors} error(s), {len(diagnostics) - errors} warning(s)"


@dataclass
class Session:
    """Builds of one ``watch``: the settings are read again before each build."""

    content: Path | None
    """The content folder as given (None: the default)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Build options from the command line, as :func:`~pipeline.config.load_config` takes."""
    strict: bool = False
    """Warnings fail the build too."""
    _last: tuple[Diagnostic, ...] = ()
    _resident: Resident = field(default_factory=Resident)  # made with the session: small
    _lock_path: Path | None = None
    _built: bool = False  # the last rebuild wrote its outputs

    def close(self) -> None:
        """Stop what the session keeps between builds (the duplicate search's process)."""
        self._resident.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def news(self, changed: set[str]) -> set[str]:
        """``changed`` without the lock file while it holds what this session's last build
        wrote: the watcher seeing that build's own write is no change to build from."""
        lock, written = self._lock_path, self._resident.lock
        if lock is None or written is None or not self._built:
            return changed  # after a build that stopped, every change is one to build from
        ours = {p for p in changed if Path(os.path.abspath(p)) == lock}
        try:
            if ours and lock.read_bytes() == written[0]:
                return changed - ours
        except OSError:
            pass
        return changed

    def rebuild(self) -> Outcome:
        """Build once. Content and settings errors are an outcome, never an exception."""
        started = time.perf_counter()
        self._built = False
        try:
            config = load_config(self.content, **self.options)
            self._lock_path = config.lock_path.absolute()
        except CardsmithError as exc:
            # Kept with the last problems, so the build that follows its fix says "fixed:".
            unread = Diagnostic("", 0, "error", str(exc), SETTINGS_UNREAD)
            self._last = (*(d for d in self._last if d.code != SETTINGS_UNREAD), unread)
            return Outcome(False, f"not built: {exc}")
        try:
            result = build(config, strict=self.strict, resident=self._resident)
        except ContentError as exc:
            found = exc.diagnostics
            summary = f"build failed: {_counts(found)}; the previous outputs are kept"
            return self._compared(False, summary, found, started)
        except CardsmithError as exc:  # a missing folder, a font, a full disk
            return Outcome(False, f"not built: {exc}", seconds=time.perf_counter() - started)
        self._built = True
        summary = f"{result.report.short_line()}; {_counts(result.diagnostics)}"
        return self._compared(True, summary, result.diagnostics, started)

    def _compared(
        self, ok: bool, summary: str, found: tuple[Diagnostic, ...], started: float
    ) -> Outcome:
        before, after = Counter(map(_same, self._last)), Counter(map(_same, found))
        new_keys, gone_keys = after - before, before - after
        new = _take(found, new_keys)
        fixed = _take(self._last, gone_keys)
        self._last = found
        return Outcome(ok, summary, new, fixed, time.perf_counter() - started)


def _take(
    diagnostics: tuple[Diagnostic, ...], keys: Counter[tuple[object, ...]]
) -> tuple[Diagnostic, ...]:
    """The diagnostics whose key is in ``keys``, as many of each as it counts, in order."""
    left = Counter(keys)
    taken = []
    for d in sorted(diagnostics):
        if left[_same(d)] > 0:
            left[_same(d)] -= 1
            taken.append(d)
    return tuple(taken)
