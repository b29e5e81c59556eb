"""``cardsmith init``: a new notes folder to start from, copied from ``templates/init/``.

The folder is laid out like this repository, so that ``cardsmith check`` and ``cardsmith
build`` work in it without a flag: the notes and their settings in ``content/`` (the
default ``--content``), the outputs in ``build/`` beside it (the default ``--out``, which
the ``.gitignore`` lists). A README.md there is not taken for a note, as it would be inside
``content/``.
"""

from __future__ import annotations

from pathlib import Path

from . import resources
from .config import CONFIG_NAME, LOCK_NAME
from .errors import EnvironmentProblem, WouldOverwrite

#: File in the new folder -> its source under ``templates/init/``. Dotfiles are stored there
#: without their dot, so that they are neither hidden nor taken for the repository's own.
FILES = {
    "README.md": "README.md",
    ".gitignore": "gitignore",
    f"content/{CONFIG_NAME}": f"content/{CONFIG_NAME}",
    "content/python.md": "content/python.md",
    "content/transformer.md": "content/transformer.md",
}

#: Files init leaves as they are when the folder has them already (a clone's README.md).
KEPT_IF_THERE = frozenset({"README.md"})


def _there(path: Path) -> bool:
    return path.exists() or path.is_symlink()


#: The one thing a person must not miss, printed after ``init`` (also in its README.md).
LOCK_NOTE = (
    f"The first build writes content/{LOCK_NAME}: commit it with your notes. It keeps each "
    "question's id, so Anki updates your cards in place and keeps their review history."
)


def init(folder: Path) -> tuple[Path, ...]:
    """Write the starter files into ``folder`` (created if missing) and return their paths.

    Nothing is ever overwritten: a README.md already there (a fresh clone's) is kept and
    ours is not written; if any other file exists, :class:`WouldOverwrite` names every one
    of them and nothing is written.
    """
    if folder.exists() and not folder.is_dir():
        raise EnvironmentProblem(f"{folder} is a file: give init a folder (new or existing)")
    targets = {
        folder / name: source
        for name, source in FILES.items()
        if name not in KEPT_IF_THERE or not _there(folder / name)
    }
    existing = [str(path) for path in targets if _there(path)]
    if existing:
        raise WouldOverwrite(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "init never overwrites a file, and wrote nothing"
        )
    source_root = resources.init_files()
    try:
        for parent in sorted({path.parent for path in targets}):  # folders first: a file
            parent.mkdir(parents=True, exist_ok=True)  # in the way stops init before a write
        for path, source in targets.items():
            with path.open("xb") as out:  # "x": a file that appeared meanwhile is kept too
                out.write(source_root.joinpath(*source.split("/")).read_bytes())
    except FileExistsError as exc:
        raise WouldOverwrite(f"{exc.filename} already exists; init never overwrites") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {exc.filename}: {exc.strerror}") from exc
    return tuple(targets)


def next_steps(folder: Path) -> list[str]:
    """What to do after ``init``, as lines to print."""
    steps = [] if folder == Path() else [f"  cd {folder}"]
    return [
        "Next:",
        *steps,
        "  cardsmith check    # every problem, as path:line: severity: message",
        "  cardsmith build    # build/cards.json, build/cardsmith.apkg, build/cheatsheet.pdf",
        LOCK_NOTE,
    ]
