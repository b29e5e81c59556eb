"""How the command stops: Ctrl-C and SIGTERM end it with one line, standard streams or not.

Forked workers ignore SIGINT and die with this process (see :func:`parallel.become_worker`);
this process turns SIGINT and SIGTERM into :class:`Interrupted`, so every ``with`` block on
the way out runs: temporary outputs are removed, workers are stopped. The exit code is
``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a signal.

Python runs a signal handler only in the main thread, between two bytecodes: not while the
main thread waits in native code (Typst typesetting a large PDF), and the exception it
raises is lost when it lands in code that swallows exceptions (an at-fork hook, a
``__del__``). So a watcher thread also hears every signal, through
:func:`signal.set_wakeup_fd`, and ends the process itself if it is still running
:data:`GRACE` seconds later. The temporary files it leaves are removed by the next build.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds the cleanup after a stop signal may take before the process ends without it.
GRACE = 1.5


class Interrupted(BaseException):
    """A stop signal arrived; raised where the main thread was.

    Not a :class:`KeyboardInterrupt`: click turns that into "Aborted!" and exit code 1.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _State:
    held = 0
    """Depth of :func:`signals_held` sections running now."""
    pending: int | None = None
    """A stop signal that arrived in such a section, raised at its end."""
    caught: int | None = None
    """The first stop signal, once one arrived."""
    reported = False
    """The one line is printed."""
    finished = False
    """The command is over; the process is ending."""
    note = ""
    """What the one line adds if a stop signal ends the section running now
    (:func:`stop_note`)."""
    said = ""
    """The note of the section the first stop signal arrived in."""


@contextmanager
def stop_note(note: str) -> Iterator[None]:
    """A section whose end matters to the person: a stop signal arriving in it adds
    ``note`` to the one line (a sync stopped while Anki was being written: the twenty-fourth
    trial saw only "stopped by SIGINT", Anki updated and the lock not)."""
    before, _State.note = _State.note, note
    try:
        yield
    finally:
        _State.note = before


def stop_note_from_now(note: str) -> None:
    """From now to the command's end (:func:`stopped_by_signals`), a stop signal adds
    ``note`` to its one line, whatever section follows: for what is done for good. A sync
    carried out in full, stopped after its report, said "stopped by SIGINT" alone (the
    thirty-fourth trial): a signal is handled a few steps after it arrives, and the report's
    own note had ended by then."""
    _State.note = note


@contextmanager
def signals_held() -> Iterator[None]:
    """A short section a stop signal must not cut in two (the renames of a commit).

    A signal arriving meanwhile is raised as :class:`Interrupted` when the section ends.
    """
    _State.held += 1
    try:
        yield
    finally:
        _State.held -= 1
        if not _State.held and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Run the command; on SIGINT or SIGTERM, clean up, print one line and exit 128 + signal.

    A second signal while cleaning up ends the process at once; one arriving after the
    command has ended is ignored (the command's exit code stands).
    """
    standard_streams_open()
    owner = os.getpid()
    _State.note = ""  # a note left by a command before this one, in the same process

    def stop(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child that has not set itself up yet
            os._exit(128 + signum)
        if _State.caught is not None or _State.finished:
            _give_up(signum)  # a second Ctrl-C, or one after the command
        _State.caught, _State.said = signum, _State.note
        if _State.held:
            _State.pending = signum
            return
        raise Interrupted(signum)

    for s in STOP_SIGNALS:
        signal.signal(s, stop)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_end,), daemon=True).start()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_if_interrupted(previous_hook)
    try:
        yield
    except Interrupted as exc:
        _State.caught = exc.signum
    except SystemExit:
        if _State.caught is None:
            raise
    finally:
        # The command is over: a stop signal from now on has nothing left to stop, and is
        # ignored. Handled, it would reach Python's shutdown, which puts the default action
        # back, and end the process as killed by SIGINT (-2) after a build that succeeded.
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        _State.finished = True
        _State.note = ""
        signal.set_wakeup_fd(previous_fd)
        os.write(write_end, b"\0")  # the watcher stops
        os.close(write_end)
        sys.unraisablehook = previous_hook
    if _State.caught is not None:  # also when the exception was swallowed on the way
        _State.reported = True
        said = f"; {_State.said}" if _State.said else ""
        print(f"cardsmith: stopped by {signal.Signals(_State.caught).name}{said}", file=sys.stderr)
        raise SystemExit(128 + _State.caught)


def stop_while_starting() -> None:
    """For the command only (``cardsmith``, ``python -m pipeline``): until
    :func:`stopped_by_signals` takes over, a stop signal ends the process at once with its
    one line and exit code. Python's own handler printed the traceback of whatever module
    was being imported (a Ctrl-C in the first 0.2 s). A program that imports the library
    keeps its own handlers."""
    argv = sys.orig_argv
    command = os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0]
    run = "-m" in argv and argv[argv.index("-m") + 1 :][:1] == ["pipeline"]
    if command == "cardsmith" or (sys.argv[:1] == ["-m"] and run):
        for s in STOP_SIGNALS:
            signal.signal(s, _stopped_starting)


def _stopped_starting(signum: int, _frame: FrameType | None) -> None:
    _give_up(signum)  # nothing was written yet: nothing to clean up


def raise_if_stopping() -> None:
    """Raise :class:`Interrupted` when a stop signal has arrived.

    For error handlers: an error a stop signal caused (a worker it ended, a pipe it broke)
    is the signal's doing, not a problem to report. Calling this (a Python function) also
    runs a handler whose signal has arrived but has not been handled yet.
    """
    if _State.caught is not None:
        raise Interrupted(_State.caught)


def _watch(read_end: int) -> None:
    """End the process :data:`GRACE` seconds after a stop signal, if it still runs."""
    try:
        while True:
            signum = os.read(read_end, 1)[0]
            if signum == 0:
                return
            if signum in STOP_SIGNALS:
                break
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline or _State.held:
            time.sleep(0.02)
        _give_up(signum)
    finally:
        os.close(read_end)


def _give_up(signum: int) -> None:
    """Print the one line and end the process now, without cleaning up: with the note of
    the section the first stop signal arrived in, or of the one running now if it was never
    handled (a sync that waited past :data:`GRACE` for Anki to finish writing said "stopped
    by SIGINT" alone, its collection written: the thirty-sixth trial)."""
    name = signal.Signals(signum).name
    note = _State.said or _State.note
    said = f"; {note}" if note else ""
    try:
        if not _State.reported:
            _State.reported = True
            os.write(2, f"cardsmith: stopped by {name}{said}\n".encode())
    finally:
        os._exit(128 + signum)


def _quiet_if_interrupted(hook: Any) -> Any:
    """An unraisable-exception hook that says nothing about a lost :class:`Interrupted`."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    return quiet


def standard_streams_open() -> None:
    """Put ``/dev/null`` on a closed stdin, stdout or stderr (``cardsmith build 2>&-``).

    Otherwise the first file the build opens would get descriptor 2, and every message would
    be written into it; and Python leaves ``sys.stderr`` as None, which printing fails on.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if opened != fd:  # lower descriptors are open, so this does not happen
                os.dup2(opened, fd)
                os.close(opened)
            if getattr(sys, name) is None:
                mode = "r" if fd == 0 else "w"
                setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))  # noqa: SIM115
