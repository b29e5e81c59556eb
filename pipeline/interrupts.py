"""How the command stops: Ctrl-C and SIGTERM end it with one line, standard streams or not.

Forked workers ignore SIGINT and die with this process (see :func:`parallel.become_worker`);
this process turns SIGINT and SIGTERM into :class:`Interrupted`, so every ``with`` block on
the way out runs: temporary outputs are removed, workers are stopped. The exit code is
``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a signal.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived; raised where the main thread was.

    Not a :class:`KeyboardInterrupt`: click turns that into "Aborted!" and exit code 1.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Run the command; on SIGINT or SIGTERM, clean up, print one line and exit 128 + signal.

    A second signal while cleaning up ends the process at once.
    """
    standard_streams_open()
    owner = os.getpid()
    caught: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != owner or caught:
            # A forked child that has not set itself up yet, or a second Ctrl-C.
            os._exit(128 + signum)
        caught.append(signum)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        yield
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        print(f"cardsmith: stopped by {name}", file=sys.stderr, flush=True)
        raise SystemExit(128 + exc.signum) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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
