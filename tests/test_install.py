"""Installable: the wheel carries everything read at run time, and works outside the checkout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from pipeline import check, load_config, resources
from tests.conftest import ROOT, SEEDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What building the wheel reads: the pyproject, the README (its long description), the code
#: and the templates. Copied to a temporary folder, so the build leaves nothing in the checkout.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "pipeline", "templates")


def _setuptools() -> dict[str, object]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["setuptools"]  # type: ignore[no-any-return]


def _folders(root: Path, package: str) -> set[str]:
    found = {package}
    for path in root.rglob("*"):
        if path.is_dir() and path.name != "__pycache__":
            found.add(".".join((package, *path.relative_to(root).parts)))
    return found


def test_every_folder_of_the_code_and_the_templates_is_a_listed_package() -> None:
    # The list is by hand (templates/ is mapped into the package); a folder missing from it
    # would be missing from the wheel, and only from the wheel.
    config = _setuptools()
    assert config["package-dir"] == {"pipeline.templates": "templates"}
    expected = _folders(ROOT / "pipeline", "pipeline") | _folders(
        ROOT / "templates", "pipeline.templates"
    )
    assert set(config["packages"]) == expected  # type: ignore[call-overload]


def test_resources_are_read_from_the_templates_folder_in_a_checkout() -> None:
    # An editable install (what `make` does) reads the repository's own templates.
    front = resources.anki_templates().joinpath("front.html")
    assert front.read_text(encoding="utf-8") == (ROOT / "templates/anki/front.html").read_text(
        encoding="utf-8"
    )
    assert resources.pdf_template().is_file()
    assert resources.init_files().joinpath("content", "cardsmith.toml").is_file()
    assert json.loads(resources.cards_schema().read_text(encoding="utf-8"))["type"] == "object"


def _questions_in_the_seed_notes() -> int:
    """Counted from the files: nlp.md asks with ``#### `` headings, python.md with top-level
    numbered items (an empty item is skipped)."""
    nlp = (SEEDS / "nlp.md").read_text(encoding="utf-8").splitlines()
    python = (SEEDS / "python.md").read_text(encoding="utf-8").splitlines()
    return sum(line.startswith("#### ") for line in nlp) + sum(
        bool(re.match(r"\d+\.\s+\S", line)) for line in python
    )


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing of this checkout or of the test's own virtualenv may leak into the commands.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.wheel_install
def test_the_wheel_installed_in_a_fresh_virtualenv_builds_the_seed_notes_anywhere(
    tmp_path: Path,
) -> None:
    # The wheel, built from a copy of the sources with this virtualenv's setuptools (no
    # download of a build backend).
    source = tmp_path / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "-q")
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source, cwd=tmp_path)
    (wheel,) = wheels.glob("cardsmith-*.whl")

    # Every template and the schema are inside it, under the package.
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = ROOT / "templates"
    for path in templates.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"pipeline/templates/{path.relative_to(templates).as_posix()}" in names
    assert "pipeline/schema/cards.schema.json" in names

    # A fresh virtualenv outside the checkout; pip may take the dependencies from its cache.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", *pip[1:], "install", wheel, cwd=tmp_path)
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import pipeline, pipeline.resources as r; print(pipeline.__file__); "
        "print(r.anki_templates())",
        cwd=tmp_path,
    ).stdout.split()
    site = str(venv / "lib")
    assert all(line.startswith(site) for line in where), where  # not this checkout

    # The seed notes, from a folder of their own.
    shutil.copytree(SEEDS, tmp_path / "notes")
    cardsmith = venv / "bin" / "cardsmith"
    built = _run(cardsmith, "build", "--content", "notes", "--out", "out", cwd=tmp_path)
    assert "Traceback" not in built.stderr
    out = tmp_path / "out"
    for name in ("cardsmith.apkg", "cheatsheet.pdf", "cardsmith.report.json"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "cards.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(resources.cards_schema().read_text(encoding="utf-8")))
    expected = _questions_in_the_seed_notes()
    assert len(data["cards"]) == expected == len(check(load_config(SEEDS)).collection.cards)

    # `init`, from the installed package too: a starter folder with nothing to report.
    _run(cardsmith, "init", "starter", cwd=tmp_path)
    checked = _run(cardsmith, "check", "--strict", cwd=tmp_path / "starter")
    assert "0 error(s), 0 warning(s)" in checked.stdout
