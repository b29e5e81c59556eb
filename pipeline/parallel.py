"""One way to spread work over the cores: forked worker processes, results in order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Generic, TypeVar

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
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(fn, items, chunksize=1)


class Background(Generic[R]):
    """A forked process that computes ``fn(*args)`` while this one goes on with other work.

    The process is forked when the object is made and then waits for :meth:`send`. Make it
    early, while this process is small: a child forked from a large process keeps a copy of
    every page either side touches afterwards. Only the arguments and the result cross
    over, pickled. Without fork, :meth:`send` does the work at once, in this process.
    Leaving the ``with`` block stops a child whose result was never asked for.
    """

    def __init__(self, fn: Callable[..., R]) -> None:
        self._fn = fn
        self._process: BaseProcess | None = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._pipe, child_end = context.Pipe()
            self._process = context.Process(target=_serve, args=(child_end, fn), daemon=True)
            self._process.start()
            child_end.close()

    def send(self, *args: object) -> None:
        """Start the work on ``args``."""
        if self._process is None:
            self._value = self._fn(*args)
        else:
            self._pipe.send(args)

    def result(self) -> R:
        """The result, waiting for it if need be; an exception in the child is raised here."""
        if self._process is None:
            return self._value
        try:
            ok, value = self._pipe.recv()
        except EOFError:
            raise RuntimeError("a background worker process died without a result") from None
        self._process.join()
        self._process = None
        if ok:
            self._value = value
            return self._value
        raise value

    def __enter__(self) -> Background[R]:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join()
            self._process = None


def _serve(pipe: Connection, fn: Callable[..., object]) -> None:
    try:
        args = pipe.recv()
    except EOFError:
        return  # the parent went away without sending work
    try:
        pipe.send((True, fn(*args)))
    except BaseException as exc:  # sent to the parent, raised there
        pipe.send((False, exc))
    finally:
        pipe.close()
