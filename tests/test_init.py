"""``cardsmith init``: a starter folder that builds with nothing to report, never overwriting."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import Config, check, load_config
from pipeline.cli import cli
from pipeline.config import _FILE_KEYS, CONFIG_NAME, LOCK_NAME, read_config_file
from pipeline.init import FILES, LOCK_NOTE, init


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder made by ``cardsmith init notes``, and the current folder."""
    monkeypatch.chdir(tmp_path)
    code, output = run("init", "notes")
    assert code == 0, output
    monkeypatch.chdir(tmp_path / "notes")
    return tmp_path / "notes"


def test_init_writes_settings_two_example_notes_a_gitignore_and_a_readme(starter: Path) -> None:
    written = sorted(p.relative_to(starter).as_posix() for p in starter.rglob("*") if p.is_file())
    assert written == sorted(FILES)
    assert written == [
        ".gitignore",
        "README.md",
        "content/cardsmith.toml",
        "content/python.md",
        "content/transformer.md",
    ]


def test_init_prints_the_next_steps_and_that_the_lock_file_must_be_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run("init", "notes")
    assert code == 0
    assert "created notes/content/python.md" in output
    assert "  cd notes\n  cardsmith check" in output
    assert LOCK_NOTE in output and "commit it" in LOCK_NOTE
    readme = (tmp_path / "notes" / "README.md").read_text(encoding="utf-8")
    assert f"**Commit `content/{LOCK_NAME}`**" in readme


def test_then_check_and_build_need_no_flag_and_report_nothing(starter: Path) -> None:
    code, output = run("check", "--strict")
    assert code == 0
    assert "0 error(s), 0 warning(s)" in output
    code, output = run("build", "--strict")
    assert code == 0, output
    assert "warning" not in output
    cards = json.loads((starter / "build" / "cards.json").read_text(encoding="utf-8"))["cards"]
    assert len(cards) == len(check(load_config()).collection.cards) > 0
    for name in ("cardsmith.apkg", "cheatsheet.pdf"):
        assert (starter / "build" / name).stat().st_size > 0
    assert (starter / "content" / LOCK_NAME).is_file()


def test_one_example_note_in_each_style_in_chinese_with_a_python_fence(starter: Path) -> None:
    cards = check(load_config()).collection.cards
    headings = (starter / "content" / "transformer.md").read_text(encoding="utf-8")
    items = (starter / "content" / "python.md").read_text(encoding="utf-8")
    assert re.search(r"^#### 1\. ", headings, re.M) and not re.search(r"^\d+\. ", headings, re.M)
    assert re.search(r"^1\. ", items, re.M) and not re.search(r"^#### ", items, re.M)
    for path in ("python.md", "transformer.md"):
        mine = [c for c in cards if c.source.path == path]
        assert mine and all(c.answered for c in mine), path
        assert {b.language for c in mine for b in c.code_blocks} == {"python"}, path
        assert any("\u4e00" <= ch <= "\u9fff" for c in mine for ch in c.question), path
        assert any(ch.isascii() and ch.isalpha() for c in mine for ch in c.question), path


def test_the_settings_file_lists_every_key_commented_with_its_default(tmp_path: Path) -> None:
    init(tmp_path / "new")
    settings_file = tmp_path / "new" / "content" / CONFIG_NAME
    text = settings_file.read_text(encoding="utf-8")
    # As written, every key is commented out: the defaults apply.
    assert read_config_file(settings_file) == {}
    # Each "# key = value" and "# [table]" line, uncommented, sets every key to its default.
    settings = re.findall(r"^# ?(\[[a-z_]+\]|[a-z_]+ = .*)$", text, re.M)
    uncommented = tmp_path / "uncommented"
    uncommented.mkdir()
    (uncommented / CONFIG_NAME).write_text("\n".join(settings) + "\n", encoding="utf-8")
    assert set(read_config_file(uncommented / CONFIG_NAME)) == set(_FILE_KEYS.values())
    assert load_config(uncommented) == Config(content=uncommented)


def test_the_gitignore_ignores_the_outputs_and_the_cache_but_not_the_lock_file(
    starter: Path,
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q"], cwd=starter, check=True)
    paths = [
        "build/cards.json",
        ".cardsmith-cache/x",
        "content/.cardsmith-cache/x",
        f"content/{LOCK_NAME}",
        "content/python.md",
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", *paths], cwd=starter, capture_output=True, text=True, check=False
    ).stdout.split()
    assert ignored == paths[:3]


def test_init_never_overwrites_and_names_every_file_in_the_way(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "content").mkdir(parents=True)
    (folder / "content" / "python.md").write_text("我的笔记\n", encoding="utf-8")
    (folder / ".gitignore").write_text("*.log\n", encoding="utf-8")
    code, output = run("init", str(folder))
    assert code == 2
    assert f"{folder}/.gitignore, {folder}/content/python.md already exist" in output
    assert "Traceback" not in output
    assert sorted(p.name for p in folder.rglob("*")) == [".gitignore", "content", "python.md"]
    assert (folder / "content" / "python.md").read_text(encoding="utf-8") == "我的笔记\n"


def test_a_file_where_a_folder_goes_stops_init_before_it_writes(tmp_path: Path) -> None:
    (tmp_path / "content").write_text("", encoding="utf-8")
    code, output = run("init", str(tmp_path))
    assert code == 2
    assert f"{tmp_path}/content already exists" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content"]


def test_a_file_given_as_the_folder_is_named_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("我的笔记\n", encoding="utf-8")
    code, output = run("init", str(tmp_path / "notes.md"))
    assert code == 2
    assert f"{tmp_path}/notes.md is a file: give init a folder" in output
    assert (tmp_path / "notes.md").read_text(encoding="utf-8") == "我的笔记\n"


def test_a_readme_already_there_is_kept_so_a_fresh_clone_can_be_started(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("# 我的笔记\n", encoding="utf-8")
    code, output = run("init", str(tmp_path))
    assert code == 0, output
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "# 我的笔记\n"
    assert f"created {tmp_path}/README.md" not in output
    assert (tmp_path / "content" / "python.md").is_file()


def test_init_creates_a_missing_folder_with_its_parents(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "a" / "b"))[0] == 0
    assert (tmp_path / "a" / "b" / "content" / "python.md").is_file()


def test_without_a_folder_init_fills_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()  # a fresh `git init` is no obstacle
    monkeypatch.chdir(tmp_path)
    code, output = run("init")
    assert code == 0
    assert (tmp_path / "content" / CONFIG_NAME).is_file()
    assert "cd " not in output
