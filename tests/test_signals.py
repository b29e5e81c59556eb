"""Ctrl-C, SIGTERM and SIGKILL: one line, exit 128 + signal, no worker left behind, and at
every moment of a build the lock old or complete and the outputs all old or all new."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.export.outputs import recover
from tests.faultkit import (
    edit_notes,
    group_members,
    leftovers,
    lock_of,
    seed_content,
    snapshot,
    wait_until_gone,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

NEW_QUESTION = "一个新问题"  # what edit_notes adds: a complete new lock knows it


def start(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    """A process in a group of its own, as a shell starts a command."""
    return subprocess.Popen(
        [sys.executable, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=cwd,
    )


def wait_for_members(proc: subprocess.Popen[str], count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(group_members(proc.pid)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.02)


def build_args(content: Path, out: Path) -> list[str | Path]:
    return ["-m", "pipeline", "build", "--content", content, "--out", out, "-q"]


def old_build(folder: Path) -> tuple[Path, Path]:
    """The seeds built with every format, then edited so that the next build changes all."""
    content, out = seed_content(folder / "content"), folder / "out"
    result = CliRunner().invoke(cli, ["build", "--content", str(content), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    edit_notes(content)
    return content, out


# --- a build interrupted --------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_ends_a_build_with_one_line(tmp_path: Path, signum: int, code: int) -> None:
    content, out = old_build(tmp_path)
    lock, outputs = lock_of(content), snapshot(out)
    proc = start(*build_args(content, out))
    wait_for_members(proc, 2)  # the build has begun: its duplicate search is forked
    os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole group
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 3  # "a second or two", and a margin for a busy machine
    assert proc.returncode == code
    assert stderr == f"cardsmith: stopped by {signal.Signals(signum).name}\n"
    assert wait_until_gone(proc.pid) == []
    assert lock_of(content) == lock and snapshot(out) == outputs
    recover(out)  # what the next build does first (the build itself normally removed them)
    assert leftovers(out) == []


#: A ``sitecustomize`` that sends the process SIGINT as its first module of cardsmith's own
#: beyond the package is looked up: a Ctrl-C while the command is still importing.
STOP_WHILE_IMPORTING = textwrap.dedent(
    """
    import os, signal, sys

    class StopAtImport:
        def find_spec(self, name, path=None, target=None):
            if name == "pipeline.build":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, StopAtImport())
    """
)


def _commands() -> list[list[str]]:
    """The command as ``python -m pipeline``, and as the installed ``cardsmith`` when there
    is one beside this Python."""
    found = [[sys.executable, "-m", "pipeline"]]
    script = Path(sys.executable).with_name("cardsmith")
    return [*found, [str(script)]] if script.exists() else found


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_ctrl_c_while_the_command_starts_ends_it_with_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "sitecustomize.py").write_text(STOP_WHILE_IMPORTING, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    run = subprocess.run(
        [*command, "check", "--content", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (run.returncode, run.stderr) == (130, "cardsmith: stopped by SIGINT\n")


def test_a_program_that_imports_the_library_keeps_its_own_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(STOP_WHILE_IMPORTING, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    # Its own handler, set as such a program may: Python's own is there only when the
    # process did not start with Ctrl-C ignored (a shell's background job does).
    program = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "try:\n    import pipeline\nexcept KeyboardInterrupt:\n    print('mine')"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert (run.returncode, run.stdout) == (0, "mine\n")


WORKERS = textwrap.dedent(
    """
    import sys, time
    from pipeline.interrupts import stopped_by_signals
    from pipeline.parallel import Background, fork_map

    def slow(n):
        time.sleep(60)
        return n

    with stopped_by_signals(), Background(slow) as background:
        background.send(0)
        print(sum(fork_map(slow, [1, 2, 3, 4], 2)))
    """
)


def test_ctrl_c_stops_the_workers_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "workers.py").write_text(WORKERS, encoding="utf-8")
    proc = start("workers.py", cwd=tmp_path)
    wait_for_members(proc, 4)  # this process, the background one and two workers
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert stderr == "cardsmith: stopped by SIGINT\n"
    assert wait_until_gone(proc.pid) == []


def test_sigterm_to_the_parent_alone_stops_its_workers(tmp_path: Path) -> None:
    (tmp_path / "workers.py").write_text(WORKERS, encoding="utf-8")
    proc = start("workers.py", cwd=tmp_path)
    wait_for_members(proc, 4)
    proc.terminate()  # what `timeout` and CI cancellation do
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143
    assert stderr == "cardsmith: stopped by SIGTERM\n"
    assert wait_until_gone(proc.pid) == []


def test_workers_die_with_a_killed_parent_and_release_its_streams(tmp_path: Path) -> None:
    (tmp_path / "workers.py").write_text(WORKERS, encoding="utf-8")
    proc = start("workers.py", cwd=tmp_path)
    wait_for_members(proc, 4)
    proc.kill()  # what the out-of-memory killer does
    # communicate() returns only when nobody holds the pipes any more.
    proc.communicate(timeout=5)
    assert wait_until_gone(proc.pid) == []


# --- the sweep: stopped at every moment of a build ------------------------------------------

MOMENTS = 12


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_a_build_stopped_at_any_moment_loses_nothing(tmp_path: Path, signum: int) -> None:
    """SIGKILL to the build alone, or Ctrl-C to its group, at moments spread over a build."""
    content, out = old_build(tmp_path / "old")
    old_lock, old_outputs = lock_of(content), snapshot(out)
    # One build to the end: how long it takes, and that it changes every output.
    timing = tmp_path / "timing"
    shutil.copytree(tmp_path / "old", timing)
    proc = start(*build_args(timing / "content", timing / "out"))
    wait_for_members(proc, 2)
    began = time.monotonic()
    proc.communicate(timeout=120)
    duration = time.monotonic() - began
    assert proc.returncode == 0
    new_outputs = snapshot(timing / "out")
    assert all(new_outputs[name] != old for name, old in old_outputs.items())
    stopped = 0
    for moment in range(MOMENTS):
        run = tmp_path / f"run{moment}"
        shutil.copytree(tmp_path / "old", run)
        content, out = run / "content", run / "out"
        proc = start(*build_args(content, out))
        # From the start of the build: a signal while Python itself starts, before any
        # code of ours runs, is Python's to handle.
        wait_for_members(proc, 2)
        time.sleep(duration * 1.1 * moment / (MOMENTS - 1))
        if signum == signal.SIGKILL:
            proc.kill()
        else:
            os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=10)
        stopped += proc.returncode != 0
        where = f"moment {moment}: exit {proc.returncode}, stderr {stderr[-300:]!r}"
        assert proc.returncode in (0, -signal.SIGKILL if signum == signal.SIGKILL else 130), where
        assert "Traceback" not in stderr, where
        if proc.returncode == 130:
            assert stderr.endswith("cardsmith: stopped by SIGINT\n"), where
        assert wait_until_gone(proc.pid) == [], where
        # The lock: the old one, or a complete new one.
        lock = lock_of(content)
        questions = {entry["question"] for entry in json.loads(lock)["notes"]}
        assert lock == old_lock or NEW_QUESTION in questions, where
        # The outputs, once the next build's first step has run: all old or all new.
        recover(out)
        outputs = snapshot(out)
        assert outputs.keys() == old_outputs.keys(), where
        changed = {name for name in outputs if outputs[name] != old_outputs[name]}
        assert changed in (set(), set(outputs)), where
        if changed:
            assert lock != old_lock, f"{where}: new outputs shipped with the old lock"
        assert leftovers(out) == [] and leftovers(content) == [], where
        # And the next build runs normally.
        result = CliRunner().invoke(
            cli, ["build", "--content", str(content), "--out", str(out), "-q", "--format", "json"]
        )
        assert result.exit_code == 0, f"{where}: {result.output[-300:]}"
        assert leftovers(out) == [] and leftovers(content) == [], where
    assert stopped >= MOMENTS // 2, "most moments should fall inside the build"


#: Ctrl-C in a section with a note, whose cleanup then outlasts the grace period.
SLOW_CLEANUP = textwrap.dedent(
    """
    import os, signal, time
    from pipeline.interrupts import stop_note, stopped_by_signals

    with stopped_by_signals(), stop_note("Anki may have been written"):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
        finally:
            time.sleep(10)  # longer than interrupts.GRACE: the watcher ends the process
    """
)


def test_a_stop_whose_cleanup_outlasts_the_grace_period_keeps_its_note(tmp_path: Path) -> None:
    # The thirty-sixth trial: a sync stopped while Anki wrote 15,000 notes waited for it
    # past the grace period, and the one line lost its "Anki may have been updated".
    proc = start("-c", SLOW_CLEANUP, cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    said = "cardsmith: stopped by SIGINT; Anki may have been written\n"
    assert (proc.returncode, err) == (130, said)
