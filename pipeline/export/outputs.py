"""Output files written as streams, all appearing at once or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO


class Outputs:
    """The output files of one build, each written to a temporary file in the output folder.

    Exporters stream into :meth:`open` instead of returning bytes, so a 100k-question build
    never holds a whole package in memory. Nothing shows under its real name before
    :meth:`commit`; leaving the ``with`` block on an error removes every temporary file, so a
    failed build leaves the previous outputs untouched and no half-written file.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pending: dict[str, Path] = {}
        self._made_folder = False

    def open(self, name: str) -> BinaryIO:
        """A new binary file to write the output ``name`` into (closed by the caller)."""
        if name in self._pending:
            raise ValueError(f"output {name!r} written twice")
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True)
            self._made_folder = True
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        self._pending[name] = Path(tmp)
        return os.fdopen(fd, "wb")

    def written(self, name: str) -> Path:
        """Where the not yet committed output ``name`` is (for reading it back)."""
        return self._pending[name]

    def commit(self) -> tuple[Path, ...]:
        """Give every written file its real name; the paths, in write order."""
        done = []
        for name, tmp in self._pending.items():
            os.replace(tmp, self.folder / name)
            done.append(self.folder / name)
        self._pending.clear()
        self._made_folder = False
        return tuple(done)

    def discard(self) -> None:
        """Remove every file not yet committed."""
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        if self._made_folder and not any(self.folder.iterdir()):
            self.folder.rmdir()  # a failed first build leaves no empty output folder either

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.discard()  # after commit() there is nothing left to remove
