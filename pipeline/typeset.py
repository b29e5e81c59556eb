"""Typst in a process of its own: ``python -m pipeline.typeset SOURCE ROOT PDF``.

Typst memoizes its work in caches global to the process and never empties them: a
``watch`` printing the sheet on every save grew by 1.3 GB a rebuild at 10k questions. A
forked child would share them no more, but Typst's thread pools do not survive a fork
(the child waited on a lock for ever), so :func:`typeset` starts a new interpreter. It
costs a PDF build the interpreter's start, about 0.1 s, against seconds of typesetting.

The child reads the Typst source from SOURCE, writes the PDF to PDF, and prints one JSON
object: ``{"error": text ("" when typeset), "warnings": [text, ...]}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .errors import EnvironmentProblem


def typeset(source: Path, root: Path, pdf: Path) -> tuple[list[str], str]:
    """Typeset ``source`` (a Typst file; paths in it resolve from ``root``) into ``pdf``:
    Typst's warnings and its error ("" when the PDF was written), as text.

    :class:`EnvironmentProblem` when the child process itself fails (killed for memory).
    """
    here = str(Path(__file__).resolve().parent.parent)  # where this package can be imported
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": here + (os.pathsep + path if path else "")}
    command = [sys.executable, "-m", "pipeline.typeset", str(source), str(root), str(pdf)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise EnvironmentProblem(
            f"Typst's process stopped (exit {done.returncode}: {last[0]}); was it out of memory?"
        )
    found = json.loads(done.stdout)
    return list(found["warnings"]), str(found["error"])


def main(argv: list[str]) -> int:
    import typst

    source, root, pdf = argv
    try:
        # typst-py types input and root with one constrained TypeVar; bytes + str is valid.
        data, warnings = typst.compile_with_warnings(  # type: ignore[call-overload]
            Path(source).read_bytes(),
            root=root,
            format="pdf",
            pdf_tags=False,  # tags double the file and add 30 % time; not needed
        )
    except typst.TypstError as exc:
        print(json.dumps({"error": str(exc), "warnings": []}))
        return 0
    Path(pdf).write_bytes(data)
    print(json.dumps({"error": "", "warnings": [str(w) for w in warnings]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
