"""Finding the note files: every ``.md`` file below the content folder, or a clear error.

A folder that cannot be listed stops the build: skipping it would orphan its questions and
give them new ids when it comes back. Links to folders are followed, each real folder
walked once (a link back up the tree, or a second link to one folder, adds nothing). Only
regular files are notes: a named pipe called ``x.md`` would block the reader forever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import EnvironmentProblem, FileProblem, quoted

NOTE_SUFFIX = ".md"


def discover(content: Path) -> list[str]:
    """Note files below the content folder, relative POSIX paths, sorted.

    Hidden files and folders (a leading ``.``) are left out. Raises
    :class:`~pipeline.errors.EnvironmentProblem` naming the first folder or file that
    cannot be read (and how many more there are), before anything is written.
    """
    _check_folder(content)
    found: list[str] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    # A stack, not recursion: a tree 1,300 folders deep must not exhaust Python's stack.
    todo: list[tuple[Path, tuple[str, ...]]] = [(content, ())]
    while todo:
        folder, rel = todo.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as entries:
                listing = sorted((e.name, e) for e in entries)
        except OSError as exc:
            problems.append(str(FileProblem("list the folder", folder, exc)))
            continue
        subfolders = []
        for name, entry in listing:
            if name.startswith("."):
                continue
            if not _utf8(name):
                # Every path is text in the records, the lock and the outputs (UTF-8): a
                # name with other bytes stopped the build with an internal error.
                shown = os.fsencode(entry.path).decode("utf-8", "backslashreplace")
                problems.append(f"'{shown}': the name is not UTF-8; rename it")
                continue
            kind = _kind(entry)
            if isinstance(kind, FileNotFoundError) and entry.is_symlink():
                problems.append(_broken_link(entry.path))
            elif isinstance(kind, OSError):
                problems.append(str(FileProblem("look at", entry.path, kind)))
            elif stat.S_ISDIR(kind):
                subfolders.append((Path(entry.path), (*rel, name)))
            elif is_note(name):
                if stat.S_ISREG(kind):
                    found.append("/".join((*rel, name)))
                else:
                    problems.append(
                        f"{quoted(entry.path)} is not a regular file (a pipe, a device); "
                        "notes must be plain files"
                    )
        todo.extend(reversed(subfolders))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise EnvironmentProblem("; ".join(problems[:3]) + more)
    return sorted(found)


def is_note(name: str) -> bool:
    """Whether a file of this name is a note: ``.md`` in any case (``面试.MD`` from an
    editor that writes capitals was left out without a word: the eleventh trial)."""
    return name.lower().endswith(NOTE_SUFFIX)


def _utf8(name: str) -> bool:
    """Whether a file name read from the system is UTF-8 (other bytes come as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_folder(content: Path) -> None:
    try:
        mode = content.stat().st_mode
    except FileNotFoundError:
        raise EnvironmentProblem(
            f"content folder {quoted(content)} does not exist (run cardsmith in the folder "
            "that holds it, or give the notes folder with --content)"
        ) from None
    except OSError as exc:
        raise FileProblem("open the content folder", content, exc) from exc
    if not stat.S_ISDIR(mode):
        raise EnvironmentProblem(
            f"content folder {quoted(content)} is a file; give the folder of the notes"
        )


def _broken_link(path: str) -> str:
    """What is wrong with a note file that is a link to nothing (its questions would be
    orphaned without a word if it were skipped)."""
    try:
        target = f" to {quoted(os.readlink(path))}"
    except OSError:
        target = ""
    return (
        f"{quoted(path)} is a symbolic link{target}, which is not there: restore what it "
        "links to, or remove the link"
    )


def _kind(entry: os.DirEntry[str]) -> int | OSError:
    """The file type bits of an entry, links followed; the error when that fails.

    A broken link named ``x.md`` is an error like an unreadable file; a broken link with
    any other name is not a note and is left alone.
    """
    try:
        return entry.stat().st_mode
    except FileNotFoundError as exc:
        if entry.is_symlink() and not is_note(entry.name):
            return 0
        return exc
    except OSError as exc:
        return exc
