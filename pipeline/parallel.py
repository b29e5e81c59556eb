"""One way to spread work over the cores: forked worker processes, results in order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

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
