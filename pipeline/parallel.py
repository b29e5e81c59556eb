"""One way to spread work over the cores: forked worker processes, results in order."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Generic, TypeVar

from .errors import EnvironmentProblem

T = TypeVar("T")
R = TypeVar("R")


def worker_count(configured: int, tasks: int) -> int:
    """Processes worth starting: the configured number, else one a core, never more than tasks."""
    return max(1, min(configured or os.cpu_count() or 1, tasks))


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items``, results in order, on ``workers`` forked processes.

    fork, because workers then inherit the imported modules and start in milliseconds. Where
    there is no fork (Windows) or one worker is enough, the work runs in this process.
    """
    if workers <= 1 or len(items) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=become_worker, initargs=(os.getpid(),)
    )
    try:
        with _signals_held():  # the first submit forks the workers (all of them)
            futures = [pool.submit(fn, item) for item in items]
        for future in futures:
            yield future.result()
    except BrokenProcessPool as exc:  # a worker killed: the OOM killer, kill -9
        _kill(pool)
        raise EnvironmentProblem(
            "a worker process ended without its result (killed, or out of memory?); "
            "nothing was written: run again"
        ) from exc
    except BaseException:
        # An error, an interrupt, or the caller stopped early: the rest is not wanted, and
        # shutting down would wait for every task already started. No future is cancelled
        # first (``pool.map`` cancels them as it stops): Python 3.11's pool then fails the
        # pending ones on its own thread and, finding one cancelled, prints a traceback.
        _kill(pool)
        raise
    finally:
        pool.shutdown(wait=True)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers still running."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


_STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back while processes are forked, delivered right after.

    A child inherits the held mask, and :func:`become_worker` releases it only once the
    child ignores Ctrl-C: a Ctrl-C that came a moment after the fork would otherwise raise
    KeyboardInterrupt in a half-made worker and print its traceback.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def become_worker(parent: int) -> None:
    """Set up a forked worker process: it stops with its parent and leaves signals to it.

    Ctrl-C reaches every process of the terminal's group; a worker ignores it and the parent
    stops the workers it no longer needs. A worker dies with its parent, even when the
    parent is killed outright (SIGKILL, the out-of-memory killer), and holds none of the
    parent's standard streams, so a caller waiting for their end is not kept waiting.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)  # the parent's watcher (see interrupts.py) is not for us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)  # held while forking
    die_with(parent)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def die_with(parent: int) -> None:
    """Make this process die with ``parent`` (its parent process), even when the parent is
    killed outright: the kernel's death signal where there is one, else a watching thread.
    A parent already gone ends this process at once."""
    if not _death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_MAX_FD = 1 << 20  # os.closerange uses close_range(2) where there is one: no cost per fd


def _death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """The fallback without prctl: notice, within a second, that the parent is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class Background(Generic[R]):
    """A forked process that computes ``fn(*args)`` while this one goes on with other work.

    The process is forked when the object is made and then waits for :meth:`send`. Make it
    early, while this process is small: a child forked from a large process keeps a copy of
    every page either side touches afterwards. Only the arguments and the result cross
    over, pickled. Without fork, :meth:`send` does the work at once, in this process.
    Leaving the ``with`` block stops a child whose result was never asked for.

    ``many``: the process serves one request after another until :meth:`close`, so a
    long-running caller forks it once, while small, for all its builds. A result never
    asked for is dropped at the next :meth:`send`; a process that died is replaced by the
    work done in this process.
    """

    def __init__(self, fn: Callable[..., R], many: bool = False) -> None:
        self._fn = fn
        self._many = many
        self._waiting = False
        self._process: BaseProcess | None = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._pipe, child_end = context.Pipe()
            self._process = context.Process(
                target=_serve, args=(child_end, fn, os.getpid(), many), daemon=True
            )
            with _signals_held():
                self._process.start()
            child_end.close()

    def send(self, *args: object) -> None:
        """Start the work on ``args``."""
        if self._process is not None and self._many and self._waiting:
            with contextlib.suppress(RuntimeError):  # died: the work is done here instead
                self._receive()  # the last build stopped before it asked: its result goes
        if self._process is not None and self._many and not self._process.is_alive():
            self.close()
        if self._process is not None:
            try:
                self._pipe.send(args)
                self._waiting = True
                return
            except ConnectionError:  # it died after all (a broken pipe): done here
                self.close()
        self._value = self._fn(*args)

    def _receive(self) -> tuple[bool, object]:
        assert self._process is not None
        self._waiting = False
        try:
            found: tuple[bool, object] = self._pipe.recv()
        except (EOFError, ConnectionError):  # the pipe's end closed, or reset: it died
            self.close()
            raise RuntimeError("a background worker process died without a result") from None
        return found

    def result(self) -> R:
        """The result, waiting for it if need be; an exception in the child is raised here."""
        if self._process is None:
            return self._value
        ok, value = self._receive()
        if not self._many:
            self._process.join()
            self._process = None
        if ok:
            self._value = value  # type: ignore[assignment]
            return self._value
        assert isinstance(value, BaseException)
        raise value

    def close(self) -> None:
        """Stop the process (SIGKILL: a SIGTERM arriving before the child has set up its
        handlers is lost)."""
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None

    def __enter__(self) -> Background[R]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _serve(pipe: Connection, fn: Callable[..., object], parent: int, many: bool) -> None:
    become_worker(parent)
    # Nothing of the parent's but the pipe: a process that may live as long as its parent
    # (many) must not hold the ends of other pipes open, or whoever waits for their end
    # (a browser driver's, a subprocess's) waits for ever.
    keep = pipe.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, _MAX_FD)
    prepare = getattr(fn, "prepare", None)
    if prepare is not None:  # what it can do before the work comes (read a file, say)
        prepare()
    try:
        while True:
            try:
                args = pipe.recv()
            except EOFError:
                return  # the parent went away without sending work
            try:
                pipe.send((True, fn(*args)))
            except BaseException as exc:  # sent to the parent, raised there
                pipe.send((False, exc))
            if not many:
                return
    finally:
        pipe.close()
