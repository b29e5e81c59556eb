"""Work on other cores: results in order, errors raised where the result is asked for."""

from __future__ import annotations

import pytest

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
