"""The command line: exit codes, messages a person can act on, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.export import anki as anki_export
from tests.conftest import FIXTURES, ROOT, SEEDS


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_check_on_the_seed_notes_exits_0_with_warnings() -> None:
    code, output = run("check", "--content", str(SEEDS))
    assert code == 0
    assert "tests/fixtures/seeds/nlp.md:214: warning: image '1.png' not found" in output.replace(
        str(ROOT) + "/", ""
    )
    assert "184 questions (166 answered): 0 error(s), 31 warning(s)" in output


def test_strict_turns_warnings_into_failure() -> None:
    assert run("check", "--content", str(SEEDS), "--strict")[0] == 1


def test_errors_exit_1_and_every_problem_is_listed(tmp_path: Path) -> None:
    content = tmp_path / "c"
    content.mkdir()
    for case in ("path_outside", "not_utf8", "unclosed_fence"):
        shutil.copy(FIXTURES / "check" / case / "notes.md", content / f"{case}.md")
    code, output = run("check", "--content", str(content))
    assert code == 1
    assert output.count(": error: ") == 4
    assert "Traceback" not in output


def test_a_character_no_pdf_font_has_exits_1_for_check_as_for_build(tmp_path: Path) -> None:
    # A content problem at its line, not an environment problem (exit 2).
    content = FIXTURES / "check" / "font_coverage"
    code, output = run("check", "--content", str(content))
    assert code == 1 and "notes.md:8: error: no PDF font has U+13000" in output
    out = str(tmp_path / "out")
    assert run("build", "--content", str(content), "--out", out, "--format", "pdf")[0] == 1
    assert run("build", "--content", str(content), "--out", out, "--format", "json")[0] == 0


def test_check_finds_what_the_pdf_build_finds(tmp_path: Path) -> None:
    # A formula Typst cannot read is printed as its TeX source: a warning of the PDF's
    # compile, which a check of notes built as a PDF (the default) reports too.
    content = FIXTURES / "check" / "formula_pdf_only"
    warning = "notes.md:7: warning: formula printed as TeX source in the PDF"
    code, output = run("check", "--content", str(content), "--strict")
    assert code == 1 and warning in output
    out = str(tmp_path / "out")
    code, output = run("build", "--content", str(content), "--out", out, "--strict")
    assert code == 1 and warning in output
    config = tmp_path / "json-only"
    shutil.copytree(content, config)
    (config / "cardsmith.toml").write_text('formats = ["json", "apkg"]\n', "utf-8")
    assert run("check", "--content", str(config), "--strict") == (
        0,
        "2 questions (2 answered): 0 error(s), 0 warning(s)\n",
    )


def test_check_stops_as_build_does_on_a_pdf_font_not_installed(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "check" / "clean", tmp_path / "c")
    (tmp_path / "c" / "cardsmith.toml").write_text('[pdf]\nfonts = ["No Such Font"]\n', "utf-8")
    check_code, check_said = run("check", "--content", str(tmp_path / "c"))
    out = str(tmp_path / "out")
    build_code, build_said = run("build", "--content", str(tmp_path / "c"), "--out", out)
    assert check_code == build_code == 2
    assert "the text font 'No Such Font' is not installed" in check_said
    assert check_said.splitlines()[-1] == build_said.splitlines()[-1]


def test_control_characters_the_notes_quote_never_reach_the_terminal(tmp_path: Path) -> None:
    # ESC ] 0 ; … BEL in a question retitled the window its warning was read in.
    (tmp_path / "n.md").write_text("1. 什么是\x1b]0;pwned\x07终端\x1b[2J注入？\n", "utf-8")
    code, output = run("check", "--content", str(tmp_path))
    assert code == 0
    assert "\x1b" not in output and "\x07" not in output
    assert "什么是\\x1b]0;pwned\\x07终端\\x1b[2J注入？" in output


def test_build_with_errors_writes_nothing(tmp_path: Path) -> None:
    content = tmp_path / "c"
    shutil.copytree(FIXTURES / "check" / "not_utf8", content)
    code, output = run("build", "--content", str(content), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "nothing was written" in output
    assert not (tmp_path / "out").exists()


def test_missing_content_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("check", "--content", str(tmp_path / "nope"))
    assert code == 2
    assert "does not exist" in output


def test_unknown_config_key_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "cardsmith.toml").write_text('colour = "red"\n', encoding="utf-8")
    code, output = run("check", "--content", str(tmp_path))
    assert code == 2
    assert "cardsmith.toml: unknown key 'colour'" in output


def test_check_json_format_for_editors() -> None:
    result = CliRunner().invoke(cli, ["check", "--content", str(SEEDS), "--format", "json"])
    data = json.loads(result.stdout)
    assert len(data) == 31
    assert {"path", "line", "severity", "code", "message", "related"} == set(data[0])


def test_every_command_has_help() -> None:
    for name, command in cli.commands.items():
        assert command.help, name
        code, output = run(name, "--help")
        assert code == 0 and "Usage:" in output


@pytest.mark.parametrize("entry", [["-m", "pipeline"]])
def test_python_dash_m_in_a_c_locale_prints_chinese(entry: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""}
    proc = subprocess.run(
        [sys.executable, *entry, "check", "--content", str(SEEDS)],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0
    assert "question has no answer (no card is made): 搜索推荐算法" in proc.stdout.decode("utf-8")


def test_the_command_leaves_its_objects_frozen_for_the_exit(tmp_path: Path) -> None:
    # Python's last garbage collection, at exit, walks every object not frozen (0.03 s of a
    # 10k re-sync).
    probe = (
        "import gc, sys, pipeline.cli\n"
        "sys.argv = ['cardsmith', 'check', '--content', sys.argv[1]]\n"
        "try:\n    pipeline.cli.main()\nexcept SystemExit:\n    pass\n"
        "print(gc.get_freeze_count() > 1000)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(SEEDS)],
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.stdout.decode("utf-8").splitlines()[-1] == "True", proc.stderr


def test_check_writes_its_diagnostics_to_stdout(tmp_path: Path) -> None:
    # `cardsmith check > problems.txt` keeps every problem and the summary, like a linter.
    problems = tmp_path / "problems.txt"
    with problems.open("wb") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "check", "--content", str(SEEDS)],
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert proc.returncode == 0
    text = problems.read_text("utf-8")
    assert text.count(": warning: ") == 31
    assert text.endswith("184 questions (166 answered): 0 error(s), 31 warning(s)\n")
    assert b"warning" not in proc.stderr


def test_a_reader_that_leaves_early_ends_the_output_quietly(tmp_path: Path) -> None:
    # `cardsmith check | head -2`: exit 3, "internal error: BrokenPipeError" and a crash
    # report (the twenty-fourth trial). Now 141, as a shell reports a program it stopped.
    notes = tmp_path / "content"
    notes.mkdir()
    asked = "".join(f"{i}. 问题{i}？\n" for i in range(1, 3001))  # 3,000 warnings: > a pipe
    (notes / "a.md").write_text(f"## 节\n\n{asked}", "utf-8")
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where a crash report would go
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "check", "--content", str(notes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert b": warning: " in proc.stdout.readline()
    proc.stdout.close()  # the reader leaves
    errors = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert b"internal error" not in errors and b"Traceback" not in errors
    assert not list(tmp_path.glob("cardsmith-crash-*"))


def _seed_copy(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(SEEDS, content)
    return content


def test_a_failed_self_check_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package database that lost a note: a bug of ours, exit 3, not 2.
    real = anki_export._write_db

    def one_note_lost(cursor: Any, *args: Any) -> None:
        real(cursor, *args)
        cursor.execute("DELETE FROM notes WHERE id = (SELECT max(id) FROM notes)")

    monkeypatch.setattr(anki_export, "_write_db", one_note_lost)
    content = _seed_copy(tmp_path)
    code, output = run("build", "--content", str(content), "--out", str(tmp_path / "o"))
    assert code == 3
    assert "cardsmith: internal error: the Anki package failed its self-check" in output
    assert "(the traceback is in " in output  # as the README promises for every exit 3
    assert "Traceback" not in output
    assert not (tmp_path / "o").exists()


def test_an_unexpected_exception_exits_3_with_the_traceback_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(sys.modules["pipeline.build"], "identify", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    content = _seed_copy(tmp_path)
    code, output = run("build", "-q", "--content", str(content), "--out", str(tmp_path / "o"))
    assert code == 3
    (line,) = output.splitlines()
    assert line.startswith("cardsmith: internal error: ZeroDivisionError: division by zero")
    (saved,) = tmp_path.glob("cardsmith-crash-*.txt")
    assert str(saved) in line
    assert "Traceback" in saved.read_text("utf-8") and "broken" in saved.read_text("utf-8")


def test_check_counts_one_question_as_one(tmp_path: Path) -> None:
    content = tmp_path / "one"
    content.mkdir()
    (content / "a.md").write_text("## 节\n\n1. 什么是装饰器？\n\n   包装函数。\n", "utf-8")
    (content / "cardsmith.toml").write_text('formats = ["json"]\n', "utf-8")
    assert run("check", "--content", str(content)) == (
        0,
        "1 question (1 answered): 0 error(s), 0 warning(s)\n",
    )


#: Runs cardsmith's console entry with ARGS, counting the cycle collections from the
#: moment the command starts; prints the count and whether the collector is on at its end,
#: as the last line of standard error.
_COUNTED = """
import gc, sys
from pipeline import cli
seen = []
inside = []
real = cli.cli.main
def counted(*args, **kwargs):
    gc.callbacks.append(lambda phase, info: phase == "stop" and seen.append(info))
    return real(*args, **kwargs)
cli.cli.main = counted
sys.argv = ["cardsmith", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print(len(seen), gc.isenabled(), file=sys.stderr)
"""


def test_a_command_that_ends_the_process_never_walks_what_it_made(tmp_path: Path) -> None:
    # The library turned the collector back on as a build or sync returned, and its first
    # collection walked every object made (12 ms of a 10k re-sync's report); the process
    # ends after the command, so the collector stays off.
    out = tmp_path / "out"
    for args in (
        ["check", "--content", str(SEEDS)],
        ["build", "--content", str(SEEDS), "--out", str(out), "--format", "json"],
    ):
        found = subprocess.run(
            [sys.executable, "-c", _COUNTED, *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        assert found.stderr.splitlines()[-1].split() == ["0", "False"], (args, found.stderr)
