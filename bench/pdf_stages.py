"""The PDF's stages before Typst, in one process: compile the notes and write the document.

``python bench/pdf_stages.py CONTENT [--reps 3] [--code PATH]``

Typst's own typesetting is most of a PDF build and is the same whatever feeds it, so on a
busy machine it drowns the part cardsmith controls. This times only that part: compiling
every note file (parsing, lexing, rendering to Typst) and assembling the document, as wall
time and as CPU time of this process and its workers (CPU time is what another process on
the machine does not change). ``--code`` runs another checkout of cardsmith (for example an
older commit in a git worktree) on the same notes; its compile step is called the way that
checkout calls it. The document's sha256 is printed so that two checkouts can be shown to
produce the same Typst source.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import inspect
import json
import resource
import statistics
import sys
import time
from pathlib import Path


def _cpu() -> float:
    return sum(
        r.ru_utime + r.ru_stime
        for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("content", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--code", type=Path, default=None, help="another cardsmith checkout")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    build = importlib.import_module("pipeline.build")
    config_module = importlib.import_module("pipeline.config")
    pdf = importlib.import_module("pipeline.export.pdf")
    config = config_module.load_config(args.content, formats=("pdf",))
    # Checkouts from before the one-parse refactor compile without a Typst flag.
    typst = "typst" in inspect.signature(build.parse_all).parameters
    walls, cpus, digest = [], [], ""
    for _ in range(args.reps):
        gc.disable()  # as a build runs
        start, cpu = time.perf_counter(), _cpu()
        collection = build.parse_all(config, typst=True) if typst else build.parse_all(config)
        document = pdf.document(pdf.selected(collection.cards, config), config)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        gc.enable()
        digest = hashlib.sha256(document.encode("utf-8")).hexdigest()[:16]
    print(
        json.dumps(
            {
                "code": str(args.code or "this checkout"),
                "wall_median_s": round(statistics.median(walls), 2),
                "cpu_median_s": round(statistics.median(cpus), 2),
                "runs": [[round(w, 2), round(c, 2)] for w, c in zip(walls, cpus, strict=True)],
                "document_sha256": digest,
            }
        )
    )


if __name__ == "__main__":
    main()
