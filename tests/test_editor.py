"""Editor and CI conventions: the pre-commit hook, JSON diagnostics, shell completion, help."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.init import init
from tests.conftest import ROOT, SEEDS

#: The installed console script (``pip install -e .`` puts it beside this Python).
CARDSMITH = Path(sys.executable).parent / "cardsmith"

#: What pre-commit requires of a hook in ``.pre-commit-hooks.yaml``, and what it knows.
HOOK_REQUIRED = {"id", "name", "entry", "language"}
HOOK_KEYS = HOOK_REQUIRED | {
    "alias", "additional_dependencies", "always_run", "args", "description", "exclude",
    "exclude_types", "files", "fail_fast", "language_version", "log_file",
    "minimum_pre_commit_version", "pass_filenames", "require_serial", "stages", "types",
    "types_or", "verbose",
}  # fmt: skip


def _console(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CARDSMITH), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


# --- pre-commit -----------------------------------------------------------------------------


def _hook() -> dict[str, object]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    hook = hooks[0]
    assert isinstance(hook, dict)
    return hook


def test_the_pre_commit_hook_runs_cardsmith_check_once_per_commit() -> None:
    hook = _hook()
    assert HOOK_REQUIRED <= set(hook) <= HOOK_KEYS
    assert hook["id"] == "cardsmith-check"
    assert hook["language"] == "python"  # pre-commit pip-installs this repository
    assert shlex.split(str(hook["entry"]))[:2] == ["cardsmith", "check"]
    assert hook["pass_filenames"] is False  # the check needs every file, not the staged ones


@pytest.mark.parametrize(
    ("path", "runs"),
    [
        ("content/nlp.md", True),
        ("notes/deep/python.md", True),
        ("content/cardsmith.toml", True),
        ("content/cardsmith.lock.json", True),
        ("build/cards.json", False),
        ("content/1.png", False),
        ("pyproject.toml", False),
    ],
)
def test_the_pre_commit_hook_runs_when_a_note_or_the_settings_change(path: str, runs: bool) -> None:
    assert bool(re.search(str(_hook()["files"]), path)) is runs


def test_the_hook_entry_run_as_pre_commit_does_passes_and_fails(tmp_path: Path) -> None:
    init(tmp_path)  # pre-commit runs hooks at the top of the repository
    entry = shlex.split(str(_hook()["entry"]))
    assert entry[0] == CARDSMITH.name
    assert _console(*entry[1:], cwd=tmp_path).returncode == 0
    with (tmp_path / "content" / "python.md").open("a", encoding="utf-8") as note:
        note.write("\n4. 没有结束的代码块？\n\n   ```python\n   x = 1\n")
    lines = (tmp_path / "content" / "python.md").read_text(encoding="utf-8").count("\n")
    failed = _console(*entry[1:], cwd=tmp_path)
    assert failed.returncode == 1
    assert f"content/python.md:{lines - 1}: error: code fence" in failed.stdout


# --- check --format json, as the README documents it ----------------------------------------


def test_the_readme_documents_the_json_records_check_prints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Editors and CI") :]
    documented = json.loads(re.findall(r"```json\n(.*?)```", section, re.S)[0])
    result = CliRunner().invoke(cli, ["check", "--content", str(SEEDS), "--format", "json"])
    printed = json.loads(result.stdout)
    related = next(d for d in printed if d["related"] is not None)
    for record in documented:
        assert set(record) == set(printed[0])
        if record["related"] is not None:
            assert set(record["related"]) == set(related["related"])
    assert {r["severity"] for r in documented} == {"error", "warning"}


# --- shell completion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _cardsmith_completion cardsmith"),
        ("zsh", "#compdef cardsmith"),
        ("fish", "complete --no-files --command cardsmith"),
    ],
)
def test_the_completion_script_for_each_shell(shell: str, marker: str, tmp_path: Path) -> None:
    proc = _console(cwd=tmp_path, _CARDSMITH_COMPLETE=f"{shell}_source")
    assert proc.returncode == 0
    assert marker in proc.stdout


def test_completion_completes_commands_and_options(tmp_path: Path) -> None:
    def complete(line: str) -> list[str]:
        words = line.split(" ")
        proc = _console(
            cwd=tmp_path,
            _CARDSMITH_COMPLETE="bash_complete",
            COMP_WORDS=line,
            COMP_CWORD=str(len(words) - 1),
        )
        return [entry.split(",", 1)[1] for entry in proc.stdout.splitlines()]

    assert complete("cardsmith b") == ["build"]
    assert complete("cardsmith check --f") == ["--format"]
    assert complete("cardsmith check --format ") == ["text", "json"]


# --- help --------------------------------------------------------------------------------


def _commands() -> list[tuple[str, click.Command]]:
    return [("", cli), *sorted(cli.commands.items())]


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda x: str(x) or "cardsmith")
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help
    result = CliRunner().invoke(cli, [*name.split(), "--help"], prog_name="cardsmith")
    assert result.exit_code == 0
    examples = result.output.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    invocation = f"cardsmith {name}".rstrip()
    assert any(line.strip().startswith(invocation) for line in examples.splitlines()), name
