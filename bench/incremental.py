"""Incremental rebuilds: one edited file, with the cache and without, in the same run.

``python bench/incremental.py [--sizes 10000,100000] [--reps 5] [--formats json,apkg]``

On a copy of the synthetic corpus, a first build (no lock, no cache) writes the lock and
the cache. Then each repetition edits one file (a question is added to it, then taken
away again, so every build has one edited file) and builds twice, interleaved: without
the cache (``--no-cache``: every file compiled again) and with it. A last build with
nothing edited shows the floor of a warm build. Every build is a fresh process, timed
from outside (interpreter start and imports included), except the rebuilds of a ``watch``
session after as many saves, timed inside it (its CPU column repeats the wall time). Then
one more warm build runs in-process with a timer on each stage, to show where the time
goes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import OUT, corpus, wall_time  # noqa: E402

EXTRA = "\n## 增量\n\n1. 增量构建要多快？\n\n   一个文件的时间。\n"
#: Runs in a fresh interpreter: the stages of one build, timed by the progress callback.
STAGES = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from pipeline import build, load_config
marks = [("import", time.perf_counter())]
def progress(stage, done, total):
    if done == 0 or stage == "parse" and not marks[-1][0].startswith("parse"):
        marks.append((stage + " start", time.perf_counter()))
config = load_config(Path(sys.argv[1]), out=Path(sys.argv[2]), formats=tuple(sys.argv[3:]))
marks.append(("config", time.perf_counter()))
build(config, progress)
marks.append(("end", time.perf_counter()))
print(json.dumps([(name, round(t - t0, 3)) for name, t in marks]))
"""

#: Runs in a fresh interpreter: a ``cardsmith watch`` session's rebuilds, each after one
#: file was saved (its records of the other files kept in memory), timed as watch times
#: them (``Outcome.seconds``: from the rebuild's start to the outputs written).
WATCH = """
import json, sys
from pathlib import Path
from pipeline.watch import Session
content, out, reps, extra = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
edited = sorted(content.glob("*.md"))[0]
original = edited.read_text(encoding="utf-8")
session = Session(content, {"out": out, "formats": tuple(sys.argv[5:])})
assert session.rebuild().ok
seconds = []
for rep in range(reps):
    edited.write_text(original + extra if rep % 2 == 0 else original, "utf-8")
    outcome = session.rebuild()
    assert outcome.ok, outcome.summary
    seconds.append(outcome.seconds)
edited.write_text(original, "utf-8")
print(json.dumps(seconds))
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, workers included) of one command.

    On a shared machine the wall time moves with the other users' load; the CPU time
    much less, so both are reported.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = wall_time(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def build_cmd(content: Path, out: Path, formats: list[str], cache: bool) -> list[str]:
    cmd = [sys.executable, "-m", "pipeline", "build", "-q", "--content", str(content)]
    cmd += ["--out", str(out), *(a for f in formats for a in ("--format", f))]
    return cmd if cache else [*cmd, "--no-cache"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--formats", default="json,apkg")
    args = parser.parse_args()
    formats = args.formats.split(",")
    for n in (int(s) for s in args.sizes.split(",")):
        work = OUT / f"incremental-{n}"
        shutil.rmtree(work, ignore_errors=True)
        content, out = work / "content", work / "build"
        shutil.copytree(corpus(n), content, ignore=shutil.ignore_patterns(".done"))
        edited = sorted(content.glob("*.md"))[0]
        original = edited.read_text(encoding="utf-8")
        first = timed(build_cmd(content, out, formats, cache=True))
        modes = (("no cache, one file edited", False), ("cache, one file edited", True))
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in modes}
        for rep in range(args.reps):
            for name, cache in modes:
                edited.write_text(original + EXTRA if rep % 2 == 0 else original, "utf-8")
                runs[name].append(timed(build_cmd(content, out, formats, cache)))
        runs["cache, nothing edited"] = [
            timed(build_cmd(content, out, formats, cache=True)) for _ in range(args.reps)
        ]
        watch = subprocess.run(
            [sys.executable, "-c", WATCH, str(content), str(out), str(args.reps), EXTRA, *formats],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs["watch: rebuild after one file saved"] = [(s, s) for s in json.loads(watch)]
        cache_mb = sum(p.stat().st_size for p in (work / ".cardsmith-cache").iterdir()) / 1e6
        print(json.dumps({"n": n, "formats": formats, "first build (writes cache)": first}))
        for name, samples in runs.items():
            row = {
                "n": n,
                "what": name,
                "median_s": round(statistics.median(w for w, _ in samples), 2),
                "median_cpu_s": round(statistics.median(c for _, c in samples), 2),
            }
            print(json.dumps({**row, "runs": [round(w, 2) for w, _ in samples]}), flush=True)
        print(json.dumps({"n": n, "cache_mb": round(cache_mb, 1)}))
        edited.write_text(original + EXTRA, "utf-8")
        start = time.perf_counter()
        stages = subprocess.run(
            [sys.executable, "-c", STAGES, str(content), str(out), *formats],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        wall = round(time.perf_counter() - start, 2)
        print(json.dumps({"n": n, "stages (warm, one edited)": json.loads(stages), "wall": wall}))
        edited.write_text(original, "utf-8")


if __name__ == "__main__":
    main()
