"""The command line: exit codes, messages a person can act on, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
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
    assert "question has no answer (no card is made): 搜索推荐算法" in proc.stderr.decode("utf-8")
