"""Compiled note files kept between builds: an unchanged file is not compiled again.

A note file's :class:`~pipeline.records.ParsedFile` depends on more than its bytes, and the
key holds all of it: the bytes, the settings the compile step reads (:data:`COMPILE_SETTINGS`
and the file's title), whether Typst was rendered, the content folder, and a fingerprint of
the code that compiles (every source file of this package, the versions of markdown-it-py
and its plugins, mdurl, Pygments, nh3, PyYAML and Python, ``CARDSMITH_FASTLEX``), so
neither a setting, an upgrade nor a
developer's edit is ever served stale records. Images and links are judged against the
file system (an image's media name is a hash of its bytes; a missing one shows a
placeholder): a cached file's targets are judged again on load, and any difference makes
it a miss. Ids are not cached: the identity stage assigns them after the compile step.

The cache lives in ``.cardsmith-cache/`` beside the output folder (``build/`` ->
``.cardsmith-cache/``, the name ``init``'s ``.gitignore`` lists), not inside it: the output
folder holds exactly the outputs, as a person publishing or syncing it expects. It is
written only together with the outputs of a successful build, so a failed build still
writes nothing, and ``check`` never writes it. One entry a note file (and
Typst flag), a pickle named by a hash of the file's path: an edit replaces one small
file, a build reads only the entries of the files it has, and entries of deleted files
are removed. An entry that cannot be read, unpickles to anything unexpected or carries
another key is a miss, never trusted; a cache that cannot be written is skipped silently.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import pickle
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import Config
from .export.outputs import running
from .parse import MATH_PDF, file_title
from .paths import Resolver
from .records import ParsedFile

#: A file as :func:`_stat` sees it: inode, size, modification and change times (ns).
Stat = tuple[int, int, int, int]

CACHE_DIR = ".cardsmith-cache"
#: Changes whenever the layout of an entry changes.
_FORMAT = "cardsmith-cache-2"  # 2: a records entry starts with its key's context
_SUFFIX = ".pickle"
#: What exporters keep beside an entry (:meth:`ParseCache.fragment`), by suffix.
_FRAGMENTS = (".json",)
#: Marks the folder as a cache for backup tools (https://bford.info/cachedir/).
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# cardsmith's compiled notes; safe to delete\n"
#: The settings the compile step reads, each in every entry's key (``content`` and
#: ``titles`` are keyed as the folder and the file's own title). A question_level set to
#: follow a no-questions hint must take effect at once, not when the file next changes.
COMPILE_SETTINGS = (
    "root_deck",
    "default_language",
    "question_level",
    "question_style",
    "question_pattern",
)
#: The settings it never reads: they shape outputs, identity or the run, not a compiled card
#: (``tests/test_cache.py`` checks that every setting is in one of the two lists).
OTHER_SETTINGS = frozenset(
    {
        "out",
        "formats",
        "include_unanswered",
        "aliases",
        "package_name",
        "columns",
        "paper",
        "pdf_title",
        "pdf_todo",
        "pdf_decks",
        "pdf_tags",
        "fonts",
        "mono_fonts",
        "workers",
        "allow_mass_orphan",
        "cache",
    }
)
#: Libraries whose behaviour shapes a compiled card (cardsmith's own code is hashed whole),
#: imported by every compile: their versions are read from them.
_LIBRARIES = ("markdown_it", "mdit_py_plugins", "mdurl", "pygments", "nh3")
#: Such libraries that a compile imports only when a note needs them (PyYAML: front matter):
#: their ``__init__.py`` is hashed, which states their version, so that no build imports
#: them for it (PyYAML: 8 ms of every sync and build).
_LAZY_LIBRARIES = ("yaml",)


_HEADER_SIZE = len(_FORMAT) + 32 + 32
_CONTEXT_SIZE = 32  # a records entry's body: its key's context (sha256), then the pickle
#: A file being written: ``.<pid>.<random>.tmp``, so a killed build's can be told apart.
_TEMP = re.compile(r"\.(?P<pid>\d+)\.[a-z0-9_]+\.tmp")


def _temp_prefix(owner: int | None = None) -> str:
    return f".{os.getpid() if owner is None else owner}."


def _temporary(folder: Path, payload: bytes, owner: int | None = None) -> Path:
    """A new temporary file in ``folder`` holding ``payload`` (none on an error), named for
    the build's process ``owner`` (default: this process)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(owner), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _header(key: str, payload: bytes) -> bytes:
    """An entry's first bytes: the format, the key, and a hash of the pickle that follows."""
    return _FORMAT.encode() + bytes.fromhex(key) + hashlib.sha256(payload).digest()


def read_kept(path: Path, key: str) -> bytes | None:
    """The payload of a file written under ``key`` (:func:`keep_later`), when its header names
    that key and its hash holds: a truncated, overwritten or edited file is never used.

    The rest is read only under the key's header: a file's entry after an edit is the
    earlier version's (1.2 MB for 500 questions), and reading and hashing all 20 of them
    was 0.04 s of a 10k re-sync after edits in every file."""
    try:
        with path.open("rb") as kept:
            head = kept.read(_HEADER_SIZE)
            if head[:-32] != _FORMAT.encode() + bytes.fromhex(key):
                return None
            payload = kept.read()
    except OSError:
        return None
    return payload if head == _header(key, payload) else None


def keep_later(folder: Path, key: str, payload: bytes, owner: int) -> Path | None:
    """A temporary file in ``folder`` holding ``payload`` under ``key``, for the build of the
    process ``owner`` to keep with its cache (:meth:`ParseCache.stage`); None when it cannot
    be written, or the folder is not there yet (a failed first build makes none)."""
    try:
        return _temporary(folder, _header(key, payload) + payload, owner)
    except OSError:
        return None


def write_kept(path: Path, key: str, payload: bytes) -> None:
    """Write ``payload`` under ``key`` at ``path`` (read back by :func:`read_kept`): a
    reader sees the old file or the new one, never half of one. Raises ``OSError``."""
    os.replace(_temporary(path.parent, _header(key, payload) + payload), path)


def cache_folder(config: Config) -> Path | None:
    """The cache folder of a build with ``config``: beside its output folder, or None when
    caching is off."""
    return config.out.parent / CACHE_DIR if config.cache else None


def _version(module: str) -> str:
    """The version a library says it is (read from the module, not from its package
    metadata: importing ``importlib.metadata`` alone costs every build 14 ms)."""
    return str(getattr(importlib.import_module(module), "__version__", ""))


def _source_digest(module: str) -> str:
    """sha256 of the ``__init__.py`` of the package ``module``, found without importing it
    ("" when it is not installed: a note that needs it says so)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """A hash of every source file of this package and the versions that shape its output.

    Computed once a process: reading the package's few dozen files takes about a millisecond.
    """
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    versions = [_version(d) for d in _LIBRARIES]
    versions += [_source_digest(d) for d in _LAZY_LIBRARIES]
    extra = [sys.version, os.environ.get("CARDSMITH_FASTLEX", "")]
    digest.update(json.dumps([*versions, *extra]).encode())
    return digest.hexdigest()


@dataclass
class Memory:
    """Compiled records kept in memory by a long-running process (``watch``, ``preview``)
    between its builds, so a rebuild reads and unpickles no entry of an unchanged file.

    Held under the same key as the entry on disk and checked the same way (its images and
    links judged again), so it is never trusted more than the cache itself. It holds the
    records of every note file: about what a build holds at its peak, kept between builds.
    """

    records: dict[tuple[str, bool], tuple[str, str, ParsedFile]] = field(default_factory=dict)
    """(path, Typst rendered) -> the key the records were compiled under, the part of it
    that is not the file's bytes (:meth:`ParseCache.previous`), and the records."""
    hashed: dict[Path, tuple[Stat, bytes]] = field(default_factory=dict)
    """Files this process read and hashed (note files, kept fragments) -> how they looked
    then and the hash (a note file's sha256, a fragment's header): while a file looks the
    same, it is not read again to be hashed (:func:`_still`). 0.3 s of a watch's rebuild
    at 100k questions (68 MB of notes, 240 MB of fragments)."""


#: A file changed less than this long before it was hashed is hashed again next time. File
#: times are coarse (a clock tick, a few ms on Linux): a second write within the tick of
#: the first would leave them as they were, and only an older change time rules that out.
_SETTLED_NS = 2_000_000_000


def _stat(path: Path) -> Stat | None:
    """Inode, size, modification and change times. Any write changes the change time, and
    no one can set it (``touch`` sets the modification time only)."""
    try:
        return _looks(path.stat())
    except OSError:
        return None


def _looks(found: os.stat_result) -> Stat:
    return (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _still(memory: Memory | None, path: Path) -> bytes | None:
    """The hash ``memory`` holds for ``path`` when the file looks as it did then."""
    held = memory.hashed.get(path) if memory is not None else None
    return held[1] if held is not None and _stat(path) == held[0] else None


def _vouch(memory: Memory | None, path: Path, seen: Stat | None, digest: bytes) -> None:
    """Remember the hash of ``path``'s bytes, read after the file looked as ``seen``: only
    a file that had not changed for :data:`_SETTLED_NS` by then."""
    if memory is None:
        return
    if seen is not None and time.time_ns() - seen[3] >= _SETTLED_NS:
        memory.hashed[path] = (seen, digest)
    else:
        memory.hashed.pop(path, None)


def _unpickled(payload: bytes, path: str) -> ParsedFile | None:
    """The records of an entry whose hash held (anything else than a file's records: None)."""
    try:
        parsed = pickle.loads(payload)
    except Exception:  # the hash matched, so only a bug could bring us here
        return None
    return parsed if isinstance(parsed, ParsedFile) and parsed.path == path else None


@dataclass(frozen=True)
class Earlier:
    """Where a note file's records from an earlier compile are (:meth:`ParseCache.previous`)."""

    records: ParsedFile | None = None
    """Held in this process's memory."""
    entry: Path | None = None
    """Else the file's cache entry, whatever the bytes it was compiled from."""
    context: str = ""
    """What the entry's key must hold besides those bytes (settings, code, path)."""

    def load(self, path: str) -> ParsedFile | None:
        """The records, when they are there, whole (their hash holds) and of this context.

        Read in the worker that compiles the file: a worker is sent where, not the cards.
        """
        return self.load_keyed(path)[0]

    def load_keyed(self, path: str) -> tuple[ParsedFile | None, str]:
        """:meth:`load`, and the key the records were kept under ("": held in memory, or
        none)."""
        if self.records is not None or self.entry is None:
            return self.records, ""
        try:
            blob = self.entry.read_bytes()
        except OSError:
            return None, ""
        head, body = blob[:_HEADER_SIZE], blob[_HEADER_SIZE:]
        whole = head.startswith(_FORMAT.encode()) and head[-32:] == hashlib.sha256(body).digest()
        if not whole or body[:_CONTEXT_SIZE] != bytes.fromhex(self.context):
            return None, ""
        parsed = _unpickled(body[_CONTEXT_SIZE:], path)
        return parsed, head[len(_FORMAT) : -32].hex() if parsed is not None else ""


@dataclass(frozen=True)
class Entry:
    """A compiled file's cache entry, for the worker that compiles it to write (so the
    build's own process does not pickle the records again: 0.1 s of a 10k re-sync after
    edits in every file, ``bench/README.md``). It is named in :meth:`ParseCache.save`."""

    folder: Path
    """The cache folder."""
    key: str
    """The entry's key (:meth:`ParseCache._key`)."""
    context: str
    """The key's context, hex (the first bytes of the entry's body)."""
    owner: int
    """The build's process id: its temporary files are told apart by it."""

    def write(self, parsed: ParsedFile) -> tuple[bytes, Path | None]:
        """The records pickled, and a temporary file holding their entry (None when it
        could not be written: the cache then costs the next build time, never this one)."""
        pickled = pickle.dumps(parsed, protocol=5)
        payload = bytes.fromhex(self.context) + pickled
        try:
            return pickled, _temporary(
                self.folder, _header(self.key, payload) + payload, self.owner
            )
        except OSError:
            return pickled, None


@dataclass
class ParseCache:
    """The compiled-records cache of one build: looked up first, saved after the outputs."""

    folder: Path | None
    """Folder of the entries; None when caching is off (``--no-cache``)."""
    config: Config
    """The build's settings (the parts the compile step reads go into every key)."""
    typst: bool
    """Whether the build renders Typst (a PDF build's records carry it, others do not)."""
    memory: Memory | None = None
    """Records kept from this process's earlier builds (None: every build reads the disk)."""
    staging: bool = False
    """The caller saves the cache, or leaves its ``with`` block (which discards what was not
    saved): the workers may write their entries (:meth:`entry`)."""
    _data: dict[str, bytes] = field(default_factory=dict)
    _keys: dict[str, str] = field(default_factory=dict)
    _pending: list[ParsedFile] = field(default_factory=list)
    _paths: list[str] = field(default_factory=list)
    _own: dict[str, str] = field(default_factory=dict)
    _staged: dict[Path, Path] = field(default_factory=dict)
    _contexts: dict[tuple[str, bool], str] = field(default_factory=dict)
    _read: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    @classmethod
    def open(
        cls, config: Config, typst: bool, memory: Memory | None = None, staging: bool = False
    ) -> ParseCache:
        """The cache beside the output folder, or a disabled one when ``config.cache`` is off
        (then ``memory`` is not used either)."""
        folder = cache_folder(config)
        if folder is None:
            return cls(None, config, typst)
        return cls(folder, config, typst, memory, staging)

    # -- keys
    def _entry(self, path: str, typst: bool) -> Path:
        assert self.folder is not None
        name = hashlib.sha256(f"{path}\0{typst}".encode()).hexdigest()[:32]
        return self.folder / (name + _SUFFIX)

    def _context(self, path: str, typst: bool) -> str:
        """The part of an entry's key that is not the file's bytes: settings, code, path.

        Made once a build for each file: the key, memory and the entry each need it.
        """
        found = self._contexts.get((path, typst))
        if found is None:
            found = self._contexts[(path, typst)] = self._context_of(path, typst)
        return found

    def _context_of(self, path: str, typst: bool) -> str:
        config = self.config
        settings = [
            _FORMAT,
            code_fingerprint(),
            path,
            typst,
            _version("tex2typst") if typst else "",  # formulas in the Typst only
            str(config.content.resolve()),
            file_title(path, config),  # [titles], for this file
            *(getattr(config, name) for name in COMPILE_SETTINGS),
        ]
        return hashlib.sha256(json.dumps(settings, ensure_ascii=False).encode()).hexdigest()

    def _key(self, path: str, data_hash: bytes, typst: bool) -> str:
        """The key of the file ``path`` whose bytes hash (sha256) to ``data_hash``."""
        digest = hashlib.sha256(self._context(path, typst).encode())
        digest.update(data_hash)
        return digest.hexdigest()

    # -- reading
    def lookup(self, paths: list[str], live: list[str] | None = None) -> dict[str, ParsedFile]:
        """The cached records of every file in ``paths`` that has a valid entry.

        The bytes of every other file are kept for :meth:`data`, so the records stored
        later are exactly those of the bytes the key was made from. ``live``: every note
        file there is (default ``paths``); :meth:`save` removes the entries of the others.
        """
        self._paths = list(paths if live is None else live)
        if self.folder is None:
            return {}
        found: dict[str, ParsedFile] = {}
        root = self.config.content
        for path in paths:
            # A file this process hashed and that looks the same is not read again.
            cached: ParsedFile | None = None
            data_hash, data = _still(self.memory, root / path), None
            if data_hash is not None:
                cached, key = self._load(path, data_hash)
            if cached is None and path in self._read:  # read by key_now: not read twice
                data_hash, data = self._read.pop(path)
                cached, key = self._load(path, data_hash)
            elif cached is None:
                seen = _stat(root / path)
                try:
                    data = (root / path).read_bytes()
                except OSError:
                    continue  # the compile step reports it
                data_hash = hashlib.sha256(data).digest()
                _vouch(self.memory, root / path, seen, data_hash)
                cached, key = self._load(path, data_hash)
            if cached is None:
                assert data is not None
                self._data[path], self._keys[path] = data, key
            else:
                found[path] = cached
                self._own[path] = key + self.judged(cached)
        if self.memory is not None:  # the records of files that are gone are let go
            there = set(self._paths)
            for gone in [k for k in self.memory.records if k[0] not in there]:
                del self.memory.records[gone]
                self.memory.hashed.pop(root / gone[0], None)
        return found

    def key_now(self, path: str) -> str | None:
        """The key of the entry the file ``path`` has as its bytes are now (None: caching
        is off, or the file cannot be read), without reading the entry. A later
        :meth:`lookup` of the file takes the bytes read here (a sync's memo asks first)."""
        if self.folder is None:
            return None
        try:
            data = (self.config.content / path).read_bytes()
        except OSError:
            return None
        data_hash = hashlib.sha256(data).digest()
        self._read[path] = (data_hash, data)
        return self._key(path, data_hash, self.typst)

    def forget_bytes(self, path: str) -> None:
        """Let go of the bytes :meth:`key_now` read of ``path`` (it will not be looked up)."""
        self._read.pop(path, None)

    def key_of(self, path: str) -> str | None:
        """The key :meth:`lookup` made from the bytes it read the file ``path`` as (None:
        not looked up, or caching is off)."""
        return self._keys.get(path) or self._own.get(path, "")[:64] or None

    def data(self, path: str) -> bytes | None:
        """The bytes ``path`` was read as by :meth:`lookup` (None: not read, or a hit)."""
        return self._data.get(path)

    def _load(self, path: str, data_hash: bytes) -> tuple[ParsedFile | None, str]:
        """A valid cached entry of the file whose bytes hash to ``data_hash`` (or None), and
        the key of this build's entry.

        A build without Typst may use an entry with it (its records carry Typst besides),
        without what only the PDF's compile says: a sync or a preview said a formula was
        printed as TeX in a PDF, or not, as a PDF build had filled the cache or not.
        """
        own = self._key(path, data_hash, self.typst)
        for typst in dict.fromkeys((self.typst, True)):
            key = own if typst == self.typst else self._key(path, data_hash, typst)
            found = self._recalled(path, typst, key)
            if found is None:
                found = self._entry_records(self._entry(path, typst), path, key)
            if found is not None:
                self._remember(path, typst, key, found)
                if typst != self.typst and any(d.code == MATH_PDF for d in found.diagnostics):
                    kept = tuple(d for d in found.diagnostics if d.code != MATH_PDF)
                    found = replace(found, diagnostics=kept)
                return found, own
        return None, own

    def _recalled(self, path: str, typst: bool, key: str) -> ParsedFile | None:
        """The records this process holds for ``key``, when its targets are judged the same."""
        held = self.memory.records.get((path, typst)) if self.memory is not None else None
        if held is None or held[0] != key:
            return None
        return held[2] if self._targets_unchanged(held[2]) else None

    def _remember(self, path: str, typst: bool, key: str, parsed: ParsedFile) -> None:
        if self.memory is not None:
            self.memory.records[(path, typst)] = (key, self._context(path, typst), parsed)

    def previous(self, path: str) -> Earlier | None:
        """Where the records of an earlier version of the file ``path`` are, compiled under
        the same settings and code: the compile step reuses its unchanged cards
        (``parse_file``). Held in :attr:`memory`, or the file's entry on disk, read by the
        worker that compiles the file (None: caching is off)."""
        if self.folder is None:
            return None
        context = self._context(path, self.typst)
        held = self.memory.records.get((path, self.typst)) if self.memory is not None else None
        if held is not None and held[1] == context:
            return Earlier(records=held[2])
        return Earlier(entry=self._entry(path, self.typst), context=context)

    def _entry_records(self, entry_path: Path, path: str, key: str) -> ParsedFile | None:
        """The records of one entry, when its header says they are the ones for ``key``.

        An entry is a header (format, key, hash of the pickle) and then the pickle: a
        truncated, overwritten or edited entry fails the hash and is never unpickled.
        """
        payload = read_kept(entry_path, key)
        if payload is None:
            return None
        parsed = _unpickled(payload[_CONTEXT_SIZE:], path)
        return parsed if parsed is not None and self._targets_unchanged(parsed) else None

    @staticmethod
    def judged(parsed: ParsedFile) -> str:
        """How the file's images and links were judged: with its key, what its records are."""
        seen = [(t.kind, t.file, t.media) for card in parsed.cards for t in card.targets]
        return hashlib.sha256(repr(seen).encode()).hexdigest() if seen else ""

    def _targets_unchanged(self, parsed: ParsedFile) -> bool:
        """Whether every image and link of the file is judged today as it was when compiled."""
        root = self.config.content.resolve()
        resolver = Resolver(root, (root / parsed.path).parent.resolve())
        return all(resolver.judged_alike(card.targets) for card in parsed.cards)

    # -- outputs of one file
    def fragment(self, path: str, kind: str, extra: str, make: Callable[[], bytes]) -> bytes:
        """What an exporter wrote for the file ``path`` last time, or ``make()`` now.

        An exporter's bytes for one file are a function of the file's compiled records (its
        entry's key) and of what the identity stage gave them (``extra``: their ids, say),
        so they are kept beside the entry, under both, and made again when either differs.
        A fragment made now is written to a temporary file at once (at 100k questions the
        ``cards.json`` fragments are 240 MB, never all held) and named in :meth:`save`.
        """
        own = self._own.get(path)  # the entry's key and how its targets were judged
        if self.folder is None or own is None:
            return make()
        key = hashlib.sha256(f"{own}\0{kind}\0".encode() + extra.encode()).hexdigest()
        target = self._entry(path, self.typst).with_suffix(f".{kind}")
        assert target.suffix in _FRAGMENTS, kind
        found = self._kept(target, key)
        if found is not None:
            return found
        blob = make()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._staged[target] = self._temporary(_header(key, blob) + blob)
        except OSError:
            pass  # not kept: the next build makes it again
        return blob

    def _kept(self, target: Path, key: str) -> bytes | None:
        """The payload of the fragment ``target`` kept under ``key``, or None. Read without
        hashing it when this process checked it before and it looks the same."""
        mark = key.encode()
        held = self.memory.hashed.get(target) if self.memory is not None else None
        if held is not None and held[1] == mark:
            try:
                with target.open("rb") as kept:
                    # Compared through the open file: a build beside this one may rename
                    # another file over the path after it was looked at.
                    if _looks(os.fstat(kept.fileno())) == held[0]:
                        kept.seek(_HEADER_SIZE)
                        return kept.read()
            except OSError:
                pass
        seen = _stat(target)
        payload = read_kept(target, key)
        if payload is not None:
            _vouch(self.memory, target, seen, mark)
        return payload

    def stage(self, name: str, written: Path | None) -> None:
        """Keep the temporary file ``written`` as ``name`` in the cache folder when the cache
        is saved (removed when it is discarded): what a search kept for the next build
        (None: it kept nothing)."""
        if written is None:
            return
        if self.folder is not None and self.staging:
            self._staged[self.folder / name] = written
        else:
            written.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the fragments made by a build that failed after all."""
        for tmp in self._staged.values():
            tmp.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> ParseCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()  # after save() there is nothing left to remove

    # -- writing
    def entry(self, path: str) -> Entry | None:
        """Where a worker writes the entry of the file ``path`` it compiles (None: caching
        is off, the caller does not save it, or the folder cannot be made)."""
        if self.folder is None or not self.staging or path not in self._keys:
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        context = self._context(path, self.typst)
        return Entry(self.folder, self._keys[path], context, os.getpid())

    def store(self, parsed: ParsedFile, written: Path | None = None) -> None:
        """Keep a freshly compiled file's records for :meth:`save` (``written``: the
        temporary file of their entry, written by the worker: :class:`Entry`)."""
        if self.folder is not None and parsed.path in self._keys:
            if written is not None:
                self._staged[self._entry(parsed.path, self.typst)] = written
            else:
                self._pending.append(parsed)
            self._own[parsed.path] = self._keys[parsed.path] + self.judged(parsed)
            # Valid whatever becomes of this build: the records are those of their key.
            self._remember(parsed.path, self.typst, self._keys[parsed.path], parsed)

    def staged(self, path: str) -> ParsedFile | None:
        """The whole records of the file ``path`` whose entry a worker wrote for this build
        (:meth:`store_spliced`), read back from it (None: none, or it cannot be read)."""
        written = self._staged.get(self._entry(path, self.typst))
        if written is None:
            return None
        return Earlier(entry=written, context=self._context(path, self.typst)).load(path)

    def store_spliced(self, path: str, written: Path, judged: str) -> None:
        """Keep the entry a worker wrote of the file ``path`` it sent as a
        :class:`~pipeline.records.SplicedFile` (``judged``: :meth:`judged` of its records)."""
        if self.folder is not None and path in self._keys:
            self._staged[self._entry(path, self.typst)] = written
            self._own[path] = self._keys[path] + judged

    def save(self) -> None:
        """Write the entries of the files compiled this time; remove those of deleted files.

        Called once the build's outputs are written. A cache that cannot be written (a
        read-only or full disk) costs the next build time, never this one its result.
        """
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tag = self.folder / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text(_TAG, encoding="utf-8")
            for parsed in self._pending:
                context = bytes.fromhex(self._context(parsed.path, self.typst))
                payload = context + pickle.dumps(parsed, protocol=5)
                header = _header(self._keys[parsed.path], payload)
                self._write(self._entry(parsed.path, self.typst), header + payload)
            self._pending.clear()
            for target, tmp in self._staged.items():
                os.replace(tmp, target)
            self._staged.clear()
            live = {self._entry(p, t).stem for p in self._paths for t in (False, True)}
            for old in self.folder.iterdir():  # entries and fragments of files now gone
                if old.stem not in live and old.suffix in (_SUFFIX, *_FRAGMENTS):
                    old.unlink(missing_ok=True)
                elif (found := _TEMP.fullmatch(old.name)) and not running(int(found["pid"])):
                    old.unlink(missing_ok=True)  # a killed build's
        except OSError:
            pass
        finally:
            self.discard()

    def _write(self, target: Path, payload: bytes) -> None:
        # A reader sees the old entry or the new one, never half of one.
        os.replace(self._temporary(payload), target)

    def _temporary(self, payload: bytes) -> Path:
        """A new temporary file in the cache folder holding ``payload`` (none on an error)."""
        assert self.folder is not None
        return _temporary(self.folder, payload)
