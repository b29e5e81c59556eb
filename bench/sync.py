"""``cardsmith sync`` at scale: ``python bench/sync.py [N]`` (default 10,000 questions).

1. a first sync of the synthetic corpus into an empty collection;
2. a sync with nothing changed;
3. a re-sync after 1 % of the questions were reworded (their notes update in place), spread
   over every note file, then as many reworded in one file;
4. the floor of any re-sync through Anki's library, in the same run: Python started,
   cardsmith imported, the collection opened with Anki's library, 1 % of its notes updated,
   the collection closed (no note file read).

Each is timed unobserved, then run again from the same starting state for its peak memory
(the process tree's proportional set size, as ``bench/run.py`` measures it). cardsmith runs
from bytecode, as installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import OUT, corpus, peak_memory, wall_time  # noqa: E402

from pipeline import load_config  # noqa: E402
from pipeline.build import parse_all  # noqa: E402


def empty_collection(path: Path) -> None:
    from anki.collection import Collection

    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    Collection(str(path)).close()


def reword(content: Path, every: int = 100, one_file: bool = False) -> int:
    """Append a word to every ``every``-th question; the number of questions changed.

    ``one_file``: as many questions, all from the first note file (every fifth of its 500).
    """
    cards = parse_all(load_config(content)).cards
    if one_file:
        first = tuple(c for c in cards if c.source.path == cards[0].source.path)
        cards = first[:: max(1, len(first) * every // len(cards))][: len(cards) // every]
        every = 1
    lines: dict[str, list[str]] = {}
    changed = 0
    for card in cards[::every]:
        text = lines.setdefault(
            card.source.path, (content / card.source.path).read_text("utf-8").splitlines(True)
        )
        text[card.source.line - 1] = text[card.source.line - 1].rstrip("\n") + " 修改\n"
        changed += 1
    for path, text in lines.items():
        (content / path).write_text("".join(text), "utf-8")
    return changed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    # As an installed cardsmith runs: pip compiles a package to bytecode as it installs it.
    # This machine sets PYTHONDONTWRITEBYTECODE, and every run compiled cardsmith's own
    # modules from source (0.05 s of each sync).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, check=True)
    base = OUT / f"sync-{n}"
    content, collection = base / "content", base / "anki" / "collection.anki2"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(corpus(n), content)
    # The cache sits beside the output folder, which is relative to the working folder:
    # here, so that the first sync compiles every file (an earlier run's cache is gone).
    os.chdir(base)
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "sync",
        "--content",
        str(content),
        "--collection",
        str(collection),
    ]
    snapshot = base / "snapshot"

    # The cache (compiled records, the duplicate search's state, the sync's memo) is part
    # of the state a step starts from: each run of a step starts from the same one.
    cache = base / ".cardsmith-cache"
    kept = (("content", content), ("anki", collection.parent), ("cache", cache))

    def keep() -> None:  # the state a step starts from, to run it again
        shutil.rmtree(snapshot, ignore_errors=True)
        for name, source in kept:
            if source.exists():
                shutil.copytree(source, snapshot / name)

    def restore() -> None:
        for name, target in kept:
            shutil.rmtree(target, ignore_errors=True)
            if (snapshot / name).exists():
                shutil.copytree(snapshot / name, target)

    def step(name: str, prepare: Callable[[], None]) -> None:
        prepare()
        keep()
        times = []
        for _ in range(3):  # the median of three, each from the same state
            times.append(wall_time(cmd))
            restore()
        seconds = sorted(times)[1]
        anki = anki_part(content, collection)
        restore()
        mb = peak_memory(cmd)
        print(f"| {name} | {seconds:.2f} s | {anki:.2f} s | {mb:.0f} MB |", flush=True)

    (content / "cardsmith.lock.json").unlink(missing_ok=True)
    print(f"{n} questions; python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}")
    print("| step | time | of which Anki | peak memory |\n| --- | --- | --- | --- |")
    step("first sync into an empty collection", lambda: empty_collection(collection))
    step("sync with nothing changed", lambda: None)
    edited: list[int] = []
    step(
        f"re-sync after rewording 1 % ({n // 100} questions, spread over every file)",
        lambda: edited.append(reword(content)),
    )
    step(
        f"re-sync after rewording {n // 100} questions of one file",
        lambda: edited.append(reword(content, one_file=True)),
    )
    check(collection)
    floor = base / "floor" / collection.name
    shutil.copytree(collection.parent, floor.parent)
    floor_cmd = [sys.executable, "-c", _FLOOR, str(floor), str(n // 100)]
    seconds = sorted(wall_time(floor_cmd) for _ in range(3))[1]
    print(
        f"| floor: import, open in Anki's library, update {n // 100} notes, close | "
        f"{seconds:.2f} s (median of 3) | | |"
    )
    build = [sys.executable, "-m", "pipeline", "build", "-q", "--format", "json"]
    build += ["--content", str(content), "--out", str(base / "build")]
    print(f"| for scale: build → cards.json of the same notes | {wall_time(build):.1f} s | | |")


#: What every re-sync through Anki's library does whatever changed: start, import
#: cardsmith, open the collection, update notes (their answers), close.
_FLOOR = """
import sys
import pipeline.cli
from anki.collection import Collection
col = Collection(sys.argv[1])
notes = [col.get_note(n) for n in col.find_notes('"note:cardsmith Q&A"')[: int(sys.argv[2])]]
for note in notes:
    note.fields[1] += " 改"
col.update_notes(notes)
col.close()
"""


def anki_part(content: Path, collection: Path) -> float:
    """Seconds of one sync spent after the notes were built: opening, planning, writing."""
    from pipeline.sync import sync

    marks: dict[tuple[str, int], float] = {}

    def progress(stage: str, done: int, _total: int) -> None:
        marks[(stage, done)] = time.perf_counter()

    sync(load_config(content), collection, progress=progress)
    return marks[("anki", 1)] - marks[("anki", 0)]


def check(collection: Path) -> None:
    """The rewordings updated notes in place: no orphan, one note per question."""
    from anki.collection import Collection

    col = Collection(str(collection))
    try:
        notes = len(col.find_notes('"note:cardsmith Q&A"'))
        orphans = len(col.find_notes("tag:cardsmith::orphan"))
    finally:
        col.close()
    print(f"after the re-sync: {notes} notes, {orphans} orphans")
    if orphans:
        raise SystemExit("a reworded question lost its note")


if __name__ == "__main__":
    main()
