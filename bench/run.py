"""The benchmark: cardsmith beside its floor (and peers), same corpus, same run.

``python bench/run.py [--sizes 1000,10000,100000] [--reps 3] [--formats json]``

Each measurement is a fresh process (cold: no lock file, empty output folder). Wall time is
the median of the repetitions; memory is the peak of the whole process tree (parent and
worker processes added up, shared pages counted once: PSS), sampled from /proc every
20 ms in one more run of each command: the sampler's own work is kept out of the timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from make_corpus import make  # noqa: E402


def _tree_pss_kb(root: int) -> int:
    """Proportional set size of a process and its descendants, in KiB.

    PSS, not RSS: a forked child shares its parent's pages, and RSS would count those
    pages once in every process that maps them.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # the process ended meanwhile
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total


def wall_time(cmd: list[str]) -> float:
    """Wall seconds of one command, unobserved."""
    start = time.perf_counter()
    code = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    return time.perf_counter() - start


def peak_memory(cmd: list[str]) -> float:
    """Peak PSS of one command's process tree in MB, sampled every 20 ms.

    A run of its own: a sample reads /proc for every process and takes about 2 ms of a core,
    a tenth of a core at this rate, which a command that uses both cores would feel.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_pss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    return peak / 1024


def corpus(n: int, math_every: int = 0) -> Path:
    """The synthetic corpus of ``n`` questions, made again whenever the generator changed;
    with ``math_every``, a formula in every such answer (a corpus of its own)."""
    path = OUT / (f"corpus-{n}-math{math_every}" if math_every else f"corpus-{n}")
    stamp = hashlib.sha256((HERE / "make_corpus.py").read_bytes()).hexdigest()
    done = path / ".done"
    if not done.exists() or done.read_text() != stamp:
        make(n, path, math_every=math_every)
        done.write_text(stamp)
    return path


def cardsmith_cmd(content: Path, formats: list[str]) -> list[str]:
    out = OUT / "build"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(OUT / ".cardsmith-cache", ignore_errors=True)  # cold: nothing compiled yet
    (content / "cardsmith.lock.json").unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "build",
        "-q",
        "--content",
        str(content),
        "--out",
        str(out),
    ]
    for fmt in formats:
        cmd += ["--format", fmt]
    return cmd


def command(
    name: str, content: Path, n: int, formats: list[str], peers: dict[str, str]
) -> list[str]:
    """The command line of ``name`` (floor, cardsmith or a peer), its outputs cleared."""
    if name == "floor":
        return [sys.executable, str(HERE / "floor.py"), str(content)]
    if name == "cardsmith":
        return cardsmith_cmd(content, formats)
    out = OUT / f"peer-{name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return peers[name].format(corpus=content, n=n, out=out).split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--formats", default="json")
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        help="NAME=COMMAND on the same corpus ({corpus}, {n} and {out} filled in)",
    )
    parser.add_argument(
        "--math-every",
        type=int,
        default=0,
        help="a formula in every K-th answer of the synthetic corpus (default: none)",
    )
    parser.add_argument(
        "--content",
        type=Path,
        default=None,
        help="benchmark a copy of this folder of notes instead of synthetic sizes",
    )
    args = parser.parse_args()
    formats = args.formats.split(",")
    rows = []
    sizes = [0] if args.content else [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        if args.content:
            content = OUT / "content-copy"
            shutil.rmtree(content, ignore_errors=True)
            shutil.copytree(args.content, content)
        else:
            content = corpus(n, args.math_every)
        peers = dict(peer.split("=", 1) for peer in args.peer)
        names = ["floor", "cardsmith", *peers]
        runs: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.reps):  # interleaved, so machine noise hits all alike
            for name in names:
                runs[name].append(wall_time(command(name, content, n, formats, peers)))
        memory = {name: peak_memory(command(name, content, n, formats, peers)) for name in names}
        floor = statistics.median(runs["floor"])
        for name, samples in runs.items():
            wall = statistics.median(samples)
            row = {
                "n": n or str(args.content),
                "math_every": args.math_every,
                "what": name,
                "formats": ",".join(formats) if name == "cardsmith" else "",
                "median_s": round(wall, 2),
                "x_floor": round(wall / floor, 2),
                "peak_mb": round(memory[name]),
                "runs": [round(w, 2) for w in samples],
            }
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
