"""Output files written as streams, all appearing at once or not at all.

How the outputs "appear together". The output folder may hold the user's own files, so it
cannot be swapped for a fresh folder with one rename (that would take their files away, or
need them moved across one by one, which a kill could interrupt too). POSIX has no rename
of several files at once, so a commit is a small journal, as in a database:

1. every output is written to a temporary file beside its real name (``.<name>.<pid>.*.tmp``);
2. the existing outputs get a hard link each (``.<name>.<pid>.old.tmp``), to roll back to;
3. a journal ``.cardsmith-commit.<pid>.json`` listing the renames is written (atomically):
   from here on the new outputs are the committed ones;
4. the temporary files are renamed to their real names, SIGINT and SIGTERM held back
   meanwhile; the journal and the links are removed (the links in the background for a
   long-running caller: freeing the old outputs' blocks took a 100k rebuild 0.1 s).

A rename that fails in step 4 puts the old files back (all old) and raises. A build killed
in step 4 (SIGKILL, a power cut) leaves the journal: the next build in the folder first
finishes its renames (all new), then removes every temporary file of a process that no
longer runs, so a killed build leaves nothing behind for long. Temporary files of a build
still running (two builds into one folder) are left alone.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import EnvironmentProblem, FileProblem, quoted
from ..interrupts import signals_held

JOURNAL = ".cardsmith-commit.{pid}.json"
_JOURNAL = re.compile(r"\.cardsmith-commit\.(?P<pid>\d+)\.json")
#: Temporary files of a build: ``.<name>.<pid>.<random>.tmp`` (and the links to roll back to).
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]+\.tmp")
#: The same before the process id was part of the name: always a killed build's.
_OLD_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


class _OutputFile(io.FileIO):
    """A file whose write errors (a full disk) name the output they were writing."""

    def __init__(self, fd: int, shown_as: Path) -> None:
        super().__init__(fd, "wb")
        self.shown_as = shown_as

    def write(self, data: object) -> int:
        try:
            return super().write(data)  # type: ignore[arg-type]
        except OSError as exc:
            raise FileProblem("write", self.shown_as, exc) from exc


class Outputs:
    """The output files of one build, each written to a temporary file in the output folder.

    Exporters stream into :meth:`open` instead of returning bytes, so a 100k-question build
    never holds a whole package in memory. Nothing shows under its real name before
    :meth:`commit`; leaving the ``with`` block on an error removes every temporary file, so a
    failed build leaves the previous outputs untouched and no half-written file. Every
    file-system error is raised as :class:`~pipeline.errors.FileProblem`, naming the path.
    """

    def __init__(self, folder: Path, remove_later: bool = False) -> None:
        """``remove_later``: the links to the old outputs are removed in the background
        after a commit (:func:`removed`), not before it returns (a ``watch``)."""
        self.folder = folder
        self._remove_later = remove_later
        self._pending: dict[str, Path] = {}
        self._made_folder = False
        self._ready = False
        self._jobs: list[Future[None]] = []
        self._threads: ThreadPoolExecutor | None = None

    def _prepare(self) -> None:
        """Create the folder if need be; finish or clear what killed builds left in it."""
        if self._ready:
            return
        if self.folder.exists() and not self.folder.is_dir():
            raise EnvironmentProblem(f"output folder {quoted(self.folder)} is a file")
        self._made_folder = not self.folder.exists()
        try:
            # exist_ok: two first builds may race to create it.
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileProblem("create the folder", self.folder, exc) from exc
        recover(self.folder)
        self._ready = True

    def open(self, name: str) -> BinaryIO:
        """A new binary file to write the output ``name`` into (closed by the caller)."""
        if name in self._pending:
            raise ValueError(f"output {name!r} written twice")
        self._prepare()
        try:
            fd, tmp = tempfile.mkstemp(
                dir=self.folder, prefix=f".{name}.{os.getpid()}.", suffix=".tmp"
            )
            self._pending[name] = Path(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        except OSError as exc:
            raise FileProblem("create a file in", self.folder, exc) from exc
        return io.BufferedWriter(_OutputFile(fd, self.folder / name))

    def background(
        self,
        name: str,
        write: Callable[[BinaryIO], None],
        check: Callable[[Path], None] | None = None,
    ) -> None:
        """Write the output ``name`` with ``write`` in a thread while the build goes on.

        For work that mostly runs outside the GIL (zlib's DEFLATE, file copies): the
        package's compression, 0.7 s at 100k questions, then overlaps the other outputs.
        ``check`` reads the closed file back. :meth:`wait` (and so :meth:`commit`) waits
        for every such output and raises what its thread raised.
        """
        out = self.open(name)

        def run() -> None:
            with out:
                write(out)
            if check is not None:
                check(self._pending[name])

        self.alongside(run)

    def alongside(self, job: Callable[[], None]) -> None:
        """Run ``job`` in a thread while the build goes on (two at a time, for the two
        cores this is measured on); :meth:`wait` raises what it raised."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="output")
        self._jobs.append(self._threads.submit(job))

    def wait(self) -> None:
        """Wait for every output written in the background; raise the first one's error."""
        jobs, self._jobs = self._jobs, []
        try:
            for job in jobs:
                job.result()
        finally:
            futures_wait(jobs)  # every thread done before any file is renamed or removed
            if self._threads is not None:
                self._threads.shutdown()
                self._threads = None

    def written(self, name: str) -> Path:
        """Where the not yet committed output ``name`` is (for reading it back)."""
        return self._pending[name]

    def commit(self) -> tuple[Path, ...]:
        """Give every written file its real name, all together; the paths, in write order."""
        self.wait()
        if not self._pending:
            return ()
        pid = os.getpid()
        renames = [(tmp, self.folder / name) for name, tmp in self._pending.items()]
        serial = next(_SERIALS)  # its own names: the last commit's may not be removed yet
        backups = {
            final: self.folder / f".{final.name}.{pid}.old{serial}.tmp" for _, final in renames
        }
        for final, backup in backups.items():
            _backup(final, backup)
        journal = self.folder / JOURNAL.format(pid=pid)
        _write_journal(journal, [(tmp.name, final.name) for tmp, final in renames])
        done: list[Path] = []
        try:
            with signals_held():
                for tmp, final in renames:
                    try:
                        os.replace(tmp, final)
                    except OSError as exc:
                        _unlink(journal)
                        _roll_back(done, backups)
                        raise FileProblem(f"rename {quoted(tmp)} to", final, exc) from exc
                    done.append(final)
                _unlink(journal)
        except BaseException:
            for backup in backups.values():
                _unlink(backup)
            raise
        if self._remove_later:
            _remove_later(tuple(backups.values()))
        else:
            for backup in backups.values():
                _unlink(backup)
        self._pending.clear()
        self._made_folder = False
        return tuple(done)

    def discard(self) -> None:
        """Remove every file not yet committed (once the threads writing them are done)."""
        with contextlib.suppress(Exception):  # a failed build's second problem
            self.wait()
        for tmp in self._pending.values():
            _unlink(tmp)
        self._pending.clear()
        if self._made_folder:
            # A failed first build leaves no empty output folder either; a folder that is
            # not empty holds another build's files, or the user's.
            with contextlib.suppress(OSError):
                self.folder.rmdir()
            self._made_folder = False

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.discard()  # after commit() there is nothing left to remove


_SERIALS = itertools.count()
_remover: ThreadPoolExecutor | None = None
_removals: list[Future[None]] = []


def _remove_later(paths: tuple[Path, ...]) -> None:
    """Remove ``paths`` in a background thread (one for the process; a process that exits
    waits for it). A file it cannot remove is left to :func:`recover`."""
    global _remover
    if _remover is None:
        _remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")

    def remove() -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()

    _removals[:] = [job for job in _removals if not job.done()]
    _removals.append(_remover.submit(remove))


def removed() -> None:
    """Wait until every removal :func:`_remove_later` was given is done."""
    futures_wait(list(_removals))


def recover(folder: Path) -> None:
    """Finish every commit a killed build left half done, then remove its temporary files."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise FileProblem("list the folder", folder, exc) from exc
    for name in names:
        found = _JOURNAL.fullmatch(name)
        if found and not running(int(found["pid"])):
            _roll_forward(folder / name)
    for name in names:
        temp = _TEMP.fullmatch(name)
        if (temp and not running(int(temp["pid"]))) or (not temp and _OLD_TEMP.fullmatch(name)):
            _unlink(folder / name)


def _roll_forward(journal: Path) -> None:
    try:
        renames = json.loads(journal.read_text(encoding="utf-8"))["renames"]
    except (OSError, ValueError, KeyError) as exc:
        _unlink(journal)  # written atomically, so it is whole; a broken one is not ours
        if isinstance(exc, OSError):
            raise FileProblem("read", journal, exc) from exc
        return
    for tmp_name, final_name in renames:
        tmp, final = journal.parent / tmp_name, journal.parent / final_name
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            pass  # renamed before the kill
        except OSError as exc:
            raise FileProblem(f"rename {quoted(tmp)} to", final, exc) from exc
    _unlink(journal)


def running(pid: int) -> bool:
    """Whether the process ``pid`` (this one included) still runs."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process can have
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _backup(final: Path, backup: Path) -> None:
    """A second name for the output about to be replaced (a copy where links do not work)."""
    _unlink(backup)
    try:
        os.link(final, backup)
    except FileNotFoundError:
        return  # a first build: nothing to roll back to
    except OSError:
        try:
            shutil.copy2(final, backup)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FileProblem("copy", final, exc) from exc


def _roll_back(done: list[Path], backups: dict[Path, Path]) -> None:
    for final in reversed(done):
        backup = backups[final]
        try:
            if backup.exists():
                os.replace(backup, final)
            else:
                final.unlink()
        except OSError:
            pass  # the error being raised already names the folder; leave what can't be undone


def _write_journal(journal: Path, renames: list[tuple[str, str]]) -> None:
    text = json.dumps({"renames": renames}, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(
            dir=journal.parent, prefix=f"{journal.name}.{os.getpid()}.", suffix=".tmp"
        )
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, journal)
    except OSError as exc:
        raise FileProblem("write", journal, exc) from exc


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FileProblem("remove", path, exc) from exc
