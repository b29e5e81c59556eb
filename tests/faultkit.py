"""Helpers of the fault tests: the frozen seed notes, a cardsmith process, what a folder holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import LOCK_NAME
from tests.conftest import SEEDS


def seed_content(folder: Path) -> Path:
    """``folder`` holding the two seed notes (no settings, no lock: a first build); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("python.md", "nlp.md"):
        shutil.copy(SEEDS / name, folder / name)
    return folder


def edit_notes(content: Path) -> None:
    """An edit that changes every output and the lock: one question reworded, one added."""
    nlp = content / "nlp.md"
    text = nlp.read_text(encoding="utf-8")
    text = text.replace("#### 1. BERT基本结构", "#### 1. BERT的基本结构是什么", 1)
    nlp.write_text(text + "\n## 新章节\n#### 1. 一个新问题\n\n新的回答。\n", encoding="utf-8")


def cardsmith(
    *args: str | Path, unprivileged: bool = False, timeout: float = 60, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pipeline`` in another process.

    ``unprivileged``: file permissions apply, as for an ordinary user. Root keeps its uid
    (the Python it runs may live under /root) but loses the capabilities that bypass them.
    """
    command = [sys.executable, "-m", "pipeline", *map(str, args)]
    if unprivileged and os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search,-fowner,-linux_immutable"
        command = ["setpriv", f"--bounding-set={drop}", *command]
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        command, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every visible file of a folder (not below it), name -> bytes."""
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def leftovers(folder: Path) -> list[str]:
    """Temporary files and commit journals a build left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def lock_of(content: Path) -> bytes:
    return (content / LOCK_NAME).read_bytes()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_until_gone(pgid: int, seconds: float = 3.0) -> list[int]:
    """The group's processes still alive after ``seconds`` (none, normally)."""
    deadline = time.monotonic() + seconds
    while (alive := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive
