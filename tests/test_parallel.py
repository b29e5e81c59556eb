"""Work on other cores: results in order, errors raised where the result is asked for."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pipeline.errors import EnvironmentProblem
from pipeline.parallel import Background, fork_map


def _square(n: int) -> int:
    return n * n


def _fail(message: str) -> None:
    raise ValueError(message)


def test_fork_map_keeps_the_order_of_the_items() -> None:
    assert list(fork_map(_square, list(range(20)), workers=2)) == [n * n for n in range(20)]


def test_background_returns_what_the_function_returns() -> None:
    with Background(_square) as work:
        work.send(12)
        assert work.result() == 144


def test_background_raises_the_childs_exception_in_the_parent() -> None:
    with Background(_fail) as work:
        work.send("broken")
        with pytest.raises(ValueError, match="broken"):
            work.result()


def test_leaving_without_asking_stops_the_child() -> None:
    with Background(_square) as work:
        process = work._process
        assert process is not None and process.is_alive()
    assert not process.is_alive()


def _slow_square(n: int) -> int:
    time.sleep(n / 10)
    return n * n


def _pid(_: object) -> int:
    return os.getpid()


def test_a_background_for_many_serves_each_request_in_the_same_process() -> None:
    with Background(_pid, many=True) as work:
        work.send(1)
        first = work.result()
        work.send(2)  # a build that stops before it asks for its result
        work.send(3)  # the next one gets its own, not the one left over
        assert work.result() == first != os.getpid()
        work.send(4)
        assert work.result() == first


def test_a_background_for_many_whose_process_died_works_here() -> None:
    with Background(_square, many=True) as work:
        process = work._process
        assert process is not None and process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        work.send(5)
        assert work.result() == 25
    # Killed with a request under way: that request fails, the next one is done here.
    with Background(_slow_square, many=True) as work:
        process = work._process
        assert process is not None and process.pid is not None
        work.send(100)  # ten seconds of work
        os.kill(process.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="died without a result"):
            work.result()
        work.send(1)
        assert work.result() == 1


def _dies(item: int) -> int:
    if item == 3:
        os._exit(9)  # as the OOM killer or a kill -9 ends a worker
    return item


def test_a_worker_killed_is_an_environment_problem_not_a_bug() -> None:
    # The CLI reports an environment problem plainly (exit 2); a bug would be an internal
    # error with a crash report (the twenty-eighth trial killed a worker).
    with pytest.raises(EnvironmentProblem, match="worker process ended without its result"):
        list(fork_map(_dies, list(range(8)), 2))
