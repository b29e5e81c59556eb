"""The duplicate search on templated question sets, before and after issue 12, same run.

``python bench/dupes.py [--sizes 100000] [--before ""] [--chinese 10000,30000,100000]
[--reps 3] [--once-from 100000] [--sample 5000]``

Times ``similar_pairs`` (all pairs it yields, duplicates included) on questions from
``make_questions.py``: at ``--sizes`` the current search and the first round of issue 12
(``dupes_round1.py``), at ``--before`` the search before issue 12 (``dupes_before.py``),
and at ``--chinese``, on a set of Chinese frames and Chinese names only (no words to group
by), the current search and the first round. Each row is the median of ``--reps`` runs in
this process, wall time and CPU time (the machine is shared: CPU time is what the search
itself costs); the first round on Chinese sets of ``--once-from`` questions or more, which
takes over a minute, runs once. The load average is printed before and after. Then it
compares every pair of a ``--sample``-question set one by one, from the definition
(``similarity``), and checks that the search found the same pairs with the same scores.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import dupes_before  # noqa: E402
import dupes_round1  # noqa: E402
from make_questions import CJK_FRAMES, CJK_TERMS, questions  # noqa: E402

from pipeline.duplicates import all_pairs, similar_pairs  # noqa: E402

Search = Callable[[Sequence[str]], Iterator[tuple[int, int, float | None]]]


def measure(search: Search, qs: Sequence[str], reps: int) -> tuple[float, float, int, int]:
    """Median wall and CPU seconds, pairs found, and how many of them are duplicates."""
    walls, cpus = [], []
    pairs: list[tuple[int, int, float | None]] = []
    for _ in range(reps):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        pairs = list(search(qs))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    duplicates = sum(1 for *_, score in pairs if score is None)
    return statistics.median(walls), statistics.median(cpus), len(pairs), duplicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--before", default="")
    parser.add_argument("--chinese", default="10000,30000,100000")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--once-from", type=int, default=100000)
    parser.add_argument("--sample", type=int, default=5000)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    before = [int(n) for n in args.before.split(",") if n]

    print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}\n".format(*os.getloadavg()))
    print("| questions | search | median s (wall) | median s (CPU) | pairs | of which duplicates |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows: list[tuple[int, str, Search, list[str], int]] = []
    round1 = "first round (grouped by words, PPJoin on features)"
    after = "now (grouped by words, units, keys of several units)"
    for n in sorted(set(sizes) | set(before)):
        qs = questions(n)
        if n in before:
            label = "before (characters, PPJoin with a postings cap)"
            rows.append((n, label, dupes_before.similar_pairs, qs, args.reps))
        if n in sizes:
            rows.append((n, round1, dupes_round1.similar_pairs, qs, args.reps))
            rows.append((n, after, similar_pairs, qs, args.reps))
    for n in [int(n) for n in args.chinese.split(",") if n]:
        qs = questions(n, frames=CJK_FRAMES, names=CJK_TERMS)
        once = 1 if n >= args.once_from else args.reps
        rows.append((n, f"{round1}, Chinese only", dupes_round1.similar_pairs, qs, once))
        rows.append((n, f"{after}, Chinese only", similar_pairs, qs, args.reps))
    for n, label, search, qs, reps in rows:
        wall, cpu, count, duplicates = measure(search, qs, reps)
        print(f"| {n:,} | {label} | {wall:.2f} | {cpu:.2f} | {count:,} | {duplicates:,} |")
        sys.stdout.flush()
    print("\nload average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))

    for label, sample in (
        ("templated", questions(args.sample, seed=1)),
        ("Chinese only", questions(args.sample, seed=1, frames=CJK_FRAMES, names=CJK_TERMS)),
    ):
        start = time.perf_counter()
        expected = all_pairs(sample)
        brute = time.perf_counter() - start
        found = {(i, j): s for i, j, s in similar_pairs(sample) if s is not None}
        verdict = "same pairs, same scores" if found == expected else "DIFFERENT"
        print(
            f"\n{args.sample:,} {label} questions: every pair compared ({brute:.0f} s): "
            f"{len(expected)} near-duplicate pairs; the search: {len(found)}, {verdict}."
        )
        if found != expected:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
