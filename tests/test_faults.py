"""Faults and bad input: the lock unchanged or complete, the outputs all old or all new,
nothing left behind, one line on stderr and the right exit code (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner, Result

from pipeline import build, load_config
from pipeline.cli import cli
from pipeline.config import LOCK_NAME
from pipeline.errors import Diagnostic, EnvironmentProblem, FileProblem
from pipeline.export.outputs import Outputs, recover, removed
from pipeline.sources import discover
from tests.faultkit import (
    cardsmith,
    edit_notes,
    leftovers,
    lock_of,
    seed_content,
    snapshot,
)


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """Seed notes built once (JSON only, fast), then edited so the next build changes all."""
    content, out = seed_content(tmp_path / "content"), tmp_path / "out"
    result = invoke("build", "--content", content, "--out", out, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    edit_notes(content)
    return content, out


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- finding the notes -------------------------------------------------------------------


def test_an_unreadable_folder_stops_the_build_before_the_lock_changes(
    built: tuple[Path, Path],
) -> None:
    content, out = built
    hidden = content / "sub"
    hidden.mkdir()
    (hidden / "more.md").write_text("## 节\n#### 1. 问题\n\n回答\n", encoding="utf-8")
    hidden.chmod(0)
    lock, outputs = lock_of(content), snapshot(out)
    try:
        proc = cardsmith("build", "--content", content, "--out", out, "-q", unprivileged=True)
    finally:
        hidden.chmod(0o755)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        f"cardsmith: error: cannot list the folder '{hidden}': Permission denied"
    )
    assert lock_of(content) == lock and snapshot(out) == outputs


def test_a_linked_folder_is_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "linked.md").write_text("# x\n", encoding="utf-8")
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("# a\n", encoding="utf-8")
    (content / "more").symlink_to(elsewhere, target_is_directory=True)
    assert discover(content) == ["a.md", "more/linked.md"]


def test_a_note_ending_in_capital_md_is_a_note(tmp_path: Path) -> None:
    for name in ("a.md", "B.MD", "c.Md", "d.markdown.txt", ".hidden.md"):
        (tmp_path / name).write_text("## s\n#### 1. q？\n\na\n", encoding="utf-8")
    assert discover(tmp_path) == ["B.MD", "a.md", "c.Md"]


def test_a_link_back_up_the_tree_is_walked_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "n.md").write_text("# n\n", encoding="utf-8")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert discover(tmp_path) == ["sub/n.md"]


def test_a_note_that_links_to_nothing_says_so_and_a_link_to_nothing_else_is_left_alone(
    tmp_path: Path,
) -> None:
    content = seed_content(tmp_path / "content")
    (content / "gone.png").symlink_to(tmp_path / "nowhere.png")  # not a note: no matter
    assert cardsmith("check", "--content", content, timeout=60).returncode == 0
    (content / "x.md").symlink_to(tmp_path / "nowhere.md")
    proc = cardsmith("check", "--content", content, timeout=60)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        f"cardsmith: error: '{content / 'x.md'}' is a symbolic link to "
        f"'{tmp_path / 'nowhere.md'}', which is not there: restore what it links to, or "
        "remove the link"
    )


def test_a_named_pipe_called_md_is_an_error_not_a_hang(tmp_path: Path) -> None:
    content = seed_content(tmp_path / "content")
    os.mkfifo(content / "x.md")
    proc = cardsmith("check", "--content", content, timeout=30)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        f"cardsmith: error: '{content / 'x.md'}' is not a regular file (a pipe, a device); "
        "notes must be plain files"
    )


def test_a_file_name_that_is_not_utf8_is_named_not_an_internal_error(tmp_path: Path) -> None:
    # Such a name reached the cache's keys and stopped every command with exit 3.
    content = seed_content(tmp_path / "content")
    (content / os.fsdecode(b"bad\xff.md")).write_text("1. \u95ee\uff1f\n   \u7b54\n", "utf-8")
    os.mkfifo(content / "x.md")
    for command in (("check",), ("build", "--out", tmp_path / "out")):
        proc = cardsmith(*command, "--content", content, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert one_line(proc.stderr) == (
            f"cardsmith: error: '{content}/bad\\xff.md': the name is not UTF-8; rename it; "
            f"'{content / 'x.md'}' is not a regular file (a pipe, a device); notes must be "
            "plain files"
        )
    assert not (tmp_path / "out").exists()


def test_content_naming_a_file_is_a_usage_error(tmp_path: Path) -> None:
    note = seed_content(tmp_path) / "nlp.md"
    result = invoke("check", "--content", note)
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        f"cardsmith: error: content folder '{note}' is a file; give the folder of the notes"
    )


def test_a_folder_1300_levels_deep_is_read(tmp_path: Path) -> None:
    deep = tmp_path / "content"
    deep.mkdir()
    for _ in range(1300):  # one at a time: Path.mkdir(parents=True) recurses
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "deep.md").write_text("## 节\n#### 1. 深处的问题\n\n回答\n", encoding="utf-8")
    try:
        result = invoke("check", "--content", tmp_path / "content")
    finally:
        # pytest's clean-up of old temporary folders recurses and would fail on this tree.
        subprocess.run(["rm", "-rf", str(tmp_path / "content")], check=True)
    assert result.exit_code == 0, result.output[-500:]
    assert "1 question (1 answered)" in result.stdout


# --- a build that would orphan most of the lock ---------------------------------------------


def test_a_notes_folder_with_no_notes_is_refused(built: tuple[Path, Path]) -> None:
    content, out = built
    for note in content.glob("*.md"):
        note.unlink()
    lock, outputs = lock_of(content), snapshot(out)
    result = invoke("build", "--content", content, "--out", out, "-q")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "would orphan 184 of the 184 question(s)" in line
    assert "run cardsmith build (or sync) with --allow-mass-orphan" in line
    assert lock_of(content) == lock and snapshot(out) == outputs


def test_allow_mass_orphan_lets_the_build_drop_them(built: tuple[Path, Path]) -> None:
    content, out = built
    for note in content.glob("*.md"):
        note.unlink()
    args = ("build", "--content", content, "--out", out, "-q", "--format", "json")
    result = invoke(*args, "--allow-mass-orphan")
    assert result.exit_code == 0, result.output
    assert json.loads(lock_of(content))["notes"] == []


def test_removing_a_few_questions_needs_no_flag(built: tuple[Path, Path]) -> None:
    content, out = built
    (content / "nlp.md").write_text("## 节\n#### 1. 只剩一个问题\n\n回答\n", encoding="utf-8")
    result = invoke("build", "--content", content, "--out", out, "-q", "--format", "json")
    assert result.exit_code == 0, result.output  # nlp.md's questions are a minority


# --- the output folder ----------------------------------------------------------------------


def test_an_empty_out_is_refused(built: tuple[Path, Path]) -> None:
    content, _ = built
    result = invoke("build", "--content", content, "--out", "")
    assert result.exit_code == 2
    assert "Invalid value for '--out': must not be empty" in result.stderr
    assert not list(Path.cwd().glob(".*.tmp"))


def test_out_naming_a_file_is_a_usage_error(built: tuple[Path, Path], tmp_path: Path) -> None:
    content, _ = built
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    result = invoke("build", "--content", content, "--out", tmp_path / "file", "-q")
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"cardsmith: error: output folder '{tmp_path}/file' is a file"


def test_a_read_only_out_names_the_folder(built: tuple[Path, Path]) -> None:
    content, out = built
    out.chmod(0o555)
    lock = lock_of(content)
    try:
        proc = cardsmith("build", "--content", content, "--out", out, "-q", unprivileged=True)
    finally:
        out.chmod(0o755)
    assert proc.returncode == 2
    assert one_line(proc.stderr).startswith(f"cardsmith: error: cannot create a file in '{out}'")
    assert lock_of(content) == lock


def test_a_read_only_notes_folder_leaves_the_outputs_old(built: tuple[Path, Path]) -> None:
    """The lock is written before the outputs: when it cannot be, no new id ships."""
    content, out = built
    lock, outputs = lock_of(content), snapshot(out)
    content.chmod(0o555)
    try:
        proc = cardsmith("build", "--content", content, "--out", out, "-q", unprivileged=True)
    finally:
        content.chmod(0o755)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        f"cardsmith: error: cannot create a file in '{content}': Permission denied"
    )
    assert lock_of(content) == lock and snapshot(out) == outputs
    assert leftovers(out) == []


def test_two_first_builds_racing_to_create_the_folder(
    built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, _ = built
    out = tmp_path / "new" / "out"
    real_mkdir = Path.mkdir

    def other_build_first(self: Path, *args: object, **kwargs: object) -> None:
        if self == out:
            real_mkdir(out, parents=True, exist_ok=True)  # the other build won the race
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", other_build_first)
    result = invoke("build", "--content", content, "--out", out, "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    assert (out / "cards.json").is_file()


def test_a_failing_rename_at_commit_leaves_the_outputs_all_old(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, out = built
    invoke("build", "--content", content, "--out", out, "-q")  # every format, then edit again
    edit_notes(content)
    outputs = snapshot(out)
    real_replace = os.replace

    def fail_on_the_package(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "cardsmith.apkg":
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_the_package)
    result = invoke("build", "--content", content, "--out", out, "-q")
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("cardsmith: error: cannot rename '")
    assert f"to '{out / 'cardsmith.apkg'}': Input/output error" in result.stderr
    assert snapshot(out) == outputs
    assert leftovers(out) == []
    # The lock went first and is complete: it knows the new question.
    assert "一个新问题" in lock_of(content).decode("utf-8")


def test_leftovers_of_killed_builds_are_removed_by_the_next(built: tuple[Path, Path]) -> None:
    content, out = built
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    stale = [f".cards.json.{dead.pid}.abcd1234.tmp", ".cardsmith.apkg.k2j3h4g5.tmp"]
    stale.append(".cards.json.99999999999999999999.abcd1234.tmp")  # no process has that pid
    live = f".cards.json.{os.getpid()}.zzzz9999.tmp"  # a build still running: left alone
    for name in [*stale, live, "notes-of-mine.txt"]:
        (out / name).write_text("x", encoding="utf-8")
    result = invoke("build", "--content", content, "--out", out, "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    assert leftovers(out) == [live]
    assert (out / "notes-of-mine.txt").read_text(encoding="utf-8") == "x"


def test_a_commit_cut_short_is_finished_by_the_next_build(tmp_path: Path) -> None:
    """A journal written, one rename done, then SIGKILL: recovery makes the outputs all new."""
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    for name in ("a.json", "b.pdf"):
        (tmp_path / name).write_text("old", encoding="utf-8")
    (tmp_path / "a.json").write_text("new", encoding="utf-8")  # renamed before the kill
    (tmp_path / f".b.pdf.{dead.pid}.qwertyui.tmp").write_text("new", encoding="utf-8")
    (tmp_path / f".b.pdf.{dead.pid}.old.tmp").write_text("old", encoding="utf-8")
    renames = [[f".a.json.{dead.pid}.asdfghjk.tmp", "a.json"]]
    renames.append([f".b.pdf.{dead.pid}.qwertyui.tmp", "b.pdf"])
    journal = {"renames": renames}
    (tmp_path / f".cardsmith-commit.{dead.pid}.json").write_text(json.dumps(journal))
    recover(tmp_path)
    assert snapshot(tmp_path) == {"a.json": b"new", "b.pdf": b"new"}
    assert leftovers(tmp_path) == []


def test_outputs_appear_only_at_commit(tmp_path: Path) -> None:
    with Outputs(tmp_path) as outputs:
        for name in ("one.json", "two.pdf"):
            with outputs.open(name) as out:
                out.write(b"new")
        assert snapshot(tmp_path) == {}
        outputs.commit()
    assert snapshot(tmp_path) == {"one.json": b"new", "two.pdf": b"new"}
    assert leftovers(tmp_path) == []


def test_a_watch_removes_the_links_to_its_old_outputs_in_the_background(tmp_path: Path) -> None:
    # Each commit names its links anew, so one not yet removed never meets the next.
    for text in (b"1", b"2", b"3"):
        with Outputs(tmp_path, remove_later=True) as outputs:
            with outputs.open("one.json") as out:
                out.write(text)
            outputs.commit()
        assert snapshot(tmp_path) == {"one.json": text}
    removed()
    assert leftovers(tmp_path) == []


def test_an_output_written_in_the_background_waits_for_commit_and_its_error_is_raised(
    tmp_path: Path,
) -> None:
    def slow(out: BinaryIO) -> None:
        time.sleep(0.2)
        out.write(b"zipped")

    with Outputs(tmp_path) as outputs:
        outputs.background("a.apkg", slow, check=lambda path: None)
        with outputs.open("b.json") as out:
            out.write(b"new")
        assert snapshot(tmp_path) == {}
        outputs.commit()
    assert snapshot(tmp_path) == {"a.apkg": b"zipped", "b.json": b"new"}

    def failing(out: BinaryIO) -> None:
        out.write(b"half")
        raise FileProblem("read the image", tmp_path / "x.png", OSError(5, "Input/output error"))

    with pytest.raises(FileProblem, match=r"x\.png"), Outputs(tmp_path) as outputs:
        outputs.background("a.apkg", failing)
        outputs.commit()
    assert snapshot(tmp_path) == {"a.apkg": b"zipped", "b.json": b"new"}
    assert leftovers(tmp_path) == []


def test_an_unreadable_image_names_the_file(built: tuple[Path, Path]) -> None:
    content, out = built
    image = content / "1.png"  # nlp.md shows it
    image.write_bytes(b"\x89PNG")
    image.chmod(0)
    lock, outputs = lock_of(content), snapshot(out)
    proc = cardsmith(
        "build", "--content", content, "--out", out, "-q", "--format", "apkg", unprivileged=True
    )
    # A file of the notes that cannot be read is a content error at its line, like a note
    # file that cannot be read; nothing is written.
    assert proc.returncode == 1
    assert "nlp.md:214: error: cannot read image '1.png': Permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert lock_of(content) == lock and snapshot(out) == outputs


# --- full disks, closed streams -------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB file system (a tmpfs; needs root)."""
    disk = tmp_path / "tiny"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mount.stderr!r}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize(
    ("fmt", "names"),
    # The package is zipped in a thread of its own: its error is the build's all the same.
    # The report is written meanwhile, and whichever of the two finds the disk full first
    # is the one named.
    [("json", ("cards.json",)), ("apkg", ("cardsmith.apkg", "cardsmith.report.json"))],
)
def test_a_full_disk_under_the_output_is_one_line(
    built: tuple[Path, Path], tiny_disk: Path, fmt: str, names: tuple[str, ...]
) -> None:
    content, _ = built
    lock = lock_of(content)
    out = tiny_disk / "out"
    proc = cardsmith("build", "--content", content, "--out", out, "-q", "--format", fmt)
    assert proc.returncode == 2
    assert one_line(proc.stderr) in {
        f"cardsmith: error: cannot write '{out}/{name}': No space left on device" for name in names
    }
    assert not out.exists() and lock_of(content) == lock


def test_a_full_tmpdir_is_one_line(built: tuple[Path, Path], tiny_disk: Path) -> None:
    content, out = built
    env = {**os.environ, "TMPDIR": str(tiny_disk)}
    proc = cardsmith("build", "--content", content, "--out", out, "-q", "--format", "apkg", env=env)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        f"cardsmith: error: cannot write the Anki database in the temporary folder "
        f"'{tiny_disk}' (TMPDIR): database or disk is full"
    )
    assert leftovers(out) == []


def test_a_build_with_stderr_closed_still_builds(built: tuple[Path, Path]) -> None:
    content, out = built
    proc = cardsmith(
        "build",
        "--content",
        content,
        "--out",
        out,
        "--format",
        "json",
        preexec_fn=lambda: os.close(2),
    )
    assert proc.returncode == 0
    cards = (out / "cards.json").read_text(encoding="utf-8")
    assert "一个新问题" in cards and "warning" not in cards


# --- messages -----------------------------------------------------------------------------


def test_a_newline_in_a_file_name_is_quoted() -> None:
    diagnostic = Diagnostic("a\nb.md", 3, "warning", "question has no answer", "unanswered")
    assert str(diagnostic) == '"a\\nb.md":3: warning: question has no answer'


def test_file_errors_quote_control_characters(tmp_path: Path) -> None:
    odd = tmp_path / "a\nb"
    odd.write_text("", encoding="utf-8")
    with pytest.raises(EnvironmentProblem) as caught:
        discover(odd)
    assert "\n" not in str(caught.value)
    assert '"' + str(tmp_path) + '/a\\nb"' in str(caught.value)


def test_check_prints_each_diagnostic_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "a\nb.md").write_text("## 节\n#### 1. 没有回答的问题\n", encoding="utf-8")
    result = invoke("check", "--content", tmp_path)
    assert result.exit_code == 0
    where = json.dumps(f"{tmp_path}/a\nb.md", ensure_ascii=False)
    assert result.stdout.splitlines()[0].startswith(f"{where}:2: warning: question has no answer")
    assert LOCK_NAME not in result.stdout


def _keep_one_question(content: Path) -> None:
    """A half checkout: of the seeds' 184 questions, one new one is left."""
    (content / "nlp.md").unlink()
    (content / "python.md").write_text("## 节\n#### 1. 只剩一个问题\n\n回答\n", encoding="utf-8")


def test_orphans_an_earlier_build_was_allowed_to_make_do_not_refuse_the_next(
    built: tuple[Path, Path],
) -> None:
    # The lock keeps orphans until they are resolved: they are not this build's doing.
    content, out = built
    _keep_one_question(content)
    args = ("build", "--content", content, "--out", out, "-q", "--format", "json")
    assert invoke(*args).exit_code == 2  # 184 questions orphaned at once
    assert invoke(*args, "--allow-mass-orphan").exit_code == 0
    assert len(json.loads(lock_of(content))["orphans"]) == 184
    again = invoke(*args)
    assert again.exit_code == 0, again.output


def test_check_warns_where_a_build_would_refuse_to_orphan_most_questions(
    built: tuple[Path, Path],
) -> None:
    content, _ = built
    _keep_one_question(content)
    result = invoke("check", "--content", content)
    assert result.exit_code == 0  # a warning: deleting most questions may be meant
    assert f"{content}/cardsmith.lock.json:0: warning: a build would orphan 184 of the 184 " in (
        result.stdout
    )


def test_a_lock_changed_while_the_build_ran_is_not_written_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `git checkout cardsmith.lock.json` during a build: writing the build's lock would undo
    # it without a word. The build stops instead, writing nothing.
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("## s\n\n1. q？\n\n   a。\n", encoding="utf-8")
    out = tmp_path / "out"
    build(load_config(content, out=out, formats=("json",)))
    (content / "a.md").write_text("## s\n\n1. q？\n\n   a。\n\n2. p？\n\n   b。\n", "utf-8")
    restored = b'{"version": 2, "notes": [], "orphans": []}\n'  # an older lock, say
    build_module = sys.modules["pipeline.build"]
    real = build_module.identify

    def restored_meanwhile(*args: object, **kwargs: object) -> object:
        found = real(*args, **kwargs)
        (content / LOCK_NAME).write_bytes(restored)
        return found

    monkeypatch.setattr(build_module, "identify", restored_meanwhile)
    before = snapshot(out)
    with pytest.raises(EnvironmentProblem, match="the lock file changed while this build ran"):
        build(load_config(content, out=out, formats=("json", "apkg")))
    assert (content / LOCK_NAME).read_bytes() == restored
    assert snapshot(out) == before and leftovers(out) == []
