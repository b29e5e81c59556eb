"""``cardsmith watch``: a real process, real saves, a real Ctrl-C."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from pipeline.cli import _guarded
from pipeline.watch import Outcome, Session

NOTE = "## 基础\n\n1. 什么是列表？\n\n   有序的容器。\n"
TIMEOUT = 30.0
WATCH = (sys.executable, "-m", "pipeline", "watch")


class Watch:
    """A ``cardsmith watch`` process and its output, line by line."""

    def __init__(self, content: Path, out: Path) -> None:
        self.process = subprocess.Popen(
            [*WATCH, "--content", str(content), "--out", str(out), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()

    def _read(self, stdout: TextIO) -> None:
        for line in stdout:
            self.lines.put(line)

    def until(self, text: str) -> list[str]:
        """Every line up to and including the first one holding ``text``."""
        got: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} after {got!r}")
            got.append(line.rstrip("\n"))
            if text in line:
                return got

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and what went to stderr."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=TIMEOUT)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[tuple[Watch, Path]]:
    content = tmp_path / "content"
    content.mkdir()
    (content / "notes.md").write_text(NOTE, encoding="utf-8")
    watch = Watch(content, tmp_path / "build")
    yield watch, content
    if watch.process.poll() is None:
        watch.process.kill()
        watch.process.wait()


def test_watch_rebuilds_on_save_survives_a_broken_file_and_stops_on_ctrl_c(
    watching: tuple[Watch, Path], tmp_path: Path
) -> None:
    watch, content = watching
    first = watch.until("1 note(s): 1 new;")
    assert first[0].startswith(f"watching {content}")
    assert (tmp_path / "build" / "cards.json").is_file()

    # Saved half-written: not UTF-8. Reported, outputs kept, still watching.
    notes = content / "notes.md"
    notes.write_bytes(NOTE.encode("utf-8")[:-5] + b"\xff")
    broken = watch.until("build failed")
    assert any("notes.md:" in line and "not valid UTF-8" in line for line in broken)
    assert "1 error(s)" in broken[-1] and "the previous outputs are kept" in broken[-1]

    # Saved whole, with a second question: only the fix and the summary are printed.
    notes.write_text(NOTE + "\n2. 什么是元组？\n\n   不可变的序列。\n", encoding="utf-8")
    fixed = watch.until("2 note(s): 1 new;")
    assert [line for line in fixed if "fixed:" in line] == [
        line for line in fixed if "not valid UTF-8" in line
    ]
    assert len(fixed) == 2 and fixed[-1].split("] ", 1)[1].startswith("notes.md: ")
    assert fixed[-1].split("] ", 1)[1].startswith("notes.md: 2 note(s): 1 new; 0 error(s)")

    code, err = watch.interrupt()
    assert code == 130  # as every command stops on Ctrl-C: one line, no traceback
    assert err == "cardsmith: stopped by SIGINT\n"


def test_a_warning_whose_line_moved_is_not_reported_again(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("## s\n\n1. 没有答案的问题？\n", encoding="utf-8")
    session = Session(tmp_path, {"out": tmp_path / "out", "formats": ("json",)})
    assert [d.code for d in session.rebuild().new] == ["unanswered"]
    (tmp_path / "notes.md").write_text("# 标题\n\n## s\n\n1. 没有答案的问题？\n", "utf-8")
    moved = session.rebuild()
    assert moved.ok and moved.new == () and moved.fixed == ()


def test_a_fixed_setting_is_reported_as_fixed(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(NOTE, encoding="utf-8")
    session = Session(tmp_path, {"out": tmp_path / "out", "formats": ("json",)})
    assert session.rebuild().ok
    (tmp_path / "cardsmith.toml").write_text("root_deck = 5\n", encoding="utf-8")
    broken = session.rebuild()
    assert not broken.ok and "root_deck" in broken.summary
    (tmp_path / "cardsmith.toml").write_text('root_deck = "笔记"\n', encoding="utf-8")
    fixed = session.rebuild()
    assert fixed.ok and fixed.new == ()
    assert [(d.code, "root_deck" in d.message) for d in fixed.fixed] == [("settings", True)]


def test_a_bug_during_a_rebuild_is_reported_and_the_watch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(tmp_path, {"out": tmp_path / "out"})

    def broken() -> Outcome:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(session, "rebuild", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the traceback is saved
    outcome = _guarded(session)
    assert not outcome.ok
    assert outcome.summary.startswith("internal error: ZeroDivisionError: division by zero")
    assert "a bug in cardsmith" in outcome.summary
    (saved,) = tmp_path.glob("cardsmith-crash-*.txt")
    assert "Traceback" in saved.read_text(encoding="utf-8")


def test_a_save_to_a_note_linked_from_outside_the_folder_is_seen(tmp_path: Path) -> None:
    # A build follows links to notes and to folders; the watch must see saves there too.
    shared = tmp_path / "shared"
    (shared / "more").mkdir(parents=True)
    (shared / "ext.md").write_text(NOTE, encoding="utf-8")
    (shared / "more" / "d.md").write_text(NOTE.replace("列表", "字典"), encoding="utf-8")
    (shared / "unrelated.txt").write_text("x", encoding="utf-8")
    content = tmp_path / "content"
    content.mkdir()
    (content / "ext.md").symlink_to(shared / "ext.md")
    (content / "linked").symlink_to(shared / "more")
    watch = Watch(content, tmp_path / "build")
    try:
        watch.until("2 note(s): 2 new;")
        (shared / "ext.md").write_text(NOTE + "\n2. 什么是集合？\n\n   无序。\n", "utf-8")
        assert "ext.md: 3 note(s): 1 new;" in watch.until("1 new;")[-1]
        (shared / "more" / "d.md").write_text(
            NOTE.replace("列表", "字典") + "\n2. 键？\n\n   可哈希。\n", "utf-8"
        )
        assert "d.md: 4 note(s): 1 new;" in watch.until("1 new;")[-1]
        code, _err = watch.interrupt()
        assert code == 130
    finally:
        if watch.process.poll() is None:
            watch.process.kill()
            watch.process.wait()


def test_a_lock_restored_from_version_control_is_built_from_its_own_writes_are_not(
    watching: tuple[Watch, Path],
) -> None:
    watch, content = watching
    watch.until("1 note(s): 1 new;")
    lock = content / "cardsmith.lock.json"
    first = lock.read_bytes()
    notes = content / "notes.md"
    notes.write_text(NOTE + "\n2. 什么是元组？\n\n   不可变的序列。\n", encoding="utf-8")
    watch.until("2 note(s): 1 new;")
    lock.write_bytes(first)  # `git checkout cardsmith.lock.json`: the second id is gone
    restored = watch.until("1 new;")
    assert restored[-1].split("] ", 1)[1].startswith("cardsmith.lock.json: 2 note(s): 1 new;")
    assert lock.read_bytes() != first  # built from, and written again
    # That build's own write of the lock started no build: the next line is the next save's.
    third = "\n\n3. 集合？\n\n   无序。\n"
    notes.write_text(NOTE + "\n2. 什么是元组？\n\n   不可变的序列。\n" + third, "utf-8")
    after = watch.until("1 new;")
    assert len(after) == 1 and "notes.md: 3 note(s): 1 new;" in after[0]


def test_a_session_tells_its_own_lock_write_from_anothers(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(NOTE, encoding="utf-8")
    with Session(tmp_path, {"out": tmp_path / "out", "formats": ("json",)}) as session:
        lock, notes = str(tmp_path / "cardsmith.lock.json"), str(tmp_path / "notes.md")
        assert session.news({lock}) == {lock}  # no build yet
        assert session.rebuild().ok
        assert session.news({lock}) == set()
        assert session.news({lock, notes}) == {notes}
        Path(lock).write_bytes(Path(lock).read_bytes().replace(b'"version": 2', b'"version":  2'))
        assert session.news({lock, notes}) == {lock, notes}


def test_after_a_build_that_stopped_the_lock_is_a_change_to_build_from(tmp_path: Path) -> None:
    # A broken lock restored to the bytes the watch last wrote: the build that failed in
    # between left a saved note unbuilt, so the restore must start a build.
    (tmp_path / "notes.md").write_text(NOTE, encoding="utf-8")
    with Session(tmp_path, {"out": tmp_path / "out", "formats": ("json",)}) as session:
        lock = tmp_path / "cardsmith.lock.json"
        assert session.rebuild().ok
        written = lock.read_bytes()
        lock.write_bytes(b"<<<<<<< HEAD\n" + written)
        assert not session.rebuild().ok
        lock.write_bytes(written)
        assert session.news({str(lock)}) == {str(lock)}
        assert session.rebuild().ok
        assert session.news({str(lock)}) == set()


def test_a_fixed_setting_is_printed_as_its_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A settings problem has no file line; "content:0: error: …" read like a note's.
    from pipeline.cli import _print_outcome
    from pipeline.errors import Diagnostic
    from pipeline.watch import SETTINGS_UNREAD

    unread = Diagnostic("", 0, "error", "cardsmith.toml: 'root_deck' must be text", SETTINGS_UNREAD)
    _print_outcome(Outcome(True, "1 note(s): no change", fixed=(unread,)), tmp_path)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "fixed: cardsmith.toml: 'root_deck' must be text"
