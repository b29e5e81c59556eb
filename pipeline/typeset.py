"""Typst in a process of its own: ``python -m pipeline.typeset SOURCE ROOT PDF``.

Typst memoizes its work in caches global to the process and never empties them: a
``watch`` printing the sheet on every save grew by 1.3 GB a rebuild at 10k questions. A
forked child would share them no more, but Typst's thread pools do not survive a fork
(the child waited on a lock for ever), so :func:`typeset` starts a new interpreter. It
costs a PDF build the interpreter's start, about 0.1 s, against seconds of typesetting.

The child reads the Typst source from SOURCE, writes the PDF to PDF, and prints one JSON
object: ``{"error": Typst's error ("" when typeset), "warnings": [text, ...], "os_error":
null or [errno, text] (the PDF could not be written)}``. It dies with the build, even a
build killed outright (PARENT is the build's process id).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .errors import EnvironmentProblem, FileProblem
from .parallel import die_with


def typeset(source: Path, root: Path, pdf: Path) -> tuple[list[str], str]:
    """Typeset ``source`` (a Typst file; paths in it resolve from ``root``) into ``pdf``:
    Typst's warnings and its error ("" when the PDF was written), as text.

    :class:`EnvironmentProblem` when the child process itself fails (killed for memory).
    """
    here = str(Path(__file__).resolve().parent.parent)  # where this package can be imported
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": here + (os.pathsep + path if path else "")}
    command = [sys.executable, "-m", "pipeline.typeset", str(source), str(root), str(pdf)]
    command.append(str(os.getpid()))
    done = subprocess.run(command, env=env, capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise EnvironmentProblem(
            f"Typst's process stopped (exit {done.returncode}: {last[0]}); was it out of memory?"
        )
    found = json.loads(done.stdout)
    if found["os_error"]:
        number, text = found["os_error"]
        raise FileProblem("write the typeset sheet in", pdf.parent, OSError(number, text))
    return list(found["warnings"]), str(found["error"])


def main(argv: list[str]) -> int:
    source, root, pdf, parent = argv
    die_with(int(parent))
    import typst

    try:
        # typst-py types input and root with one constrained TypeVar; bytes + str is valid.
        data, warnings = typst.compile_with_warnings(  # type: ignore[call-overload]
            Path(source).read_bytes(),
            root=root,
            format="pdf",
            pdf_tags=False,  # tags double the file and add 30 % time; not needed
        )
    except typst.TypstError as exc:
        print(json.dumps({"error": str(exc), "warnings": [], "os_error": None}))
        return 0
    try:
        Path(pdf).write_bytes(data)
    except OSError as exc:  # a full TMPDIR, say: the build names it
        failed = [exc.errno or 0, exc.strerror or str(exc)]
        print(json.dumps({"error": "", "warnings": [], "os_error": failed}))
        return 0
    found = {"error": "", "warnings": [str(w) for w in warnings], "os_error": None}
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
