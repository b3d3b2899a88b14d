"""The validation cache (whole files, per-row records) and the media digest cache, in one sqlite file under the cache
root. Both levels share a context key: the processor, the validation settings and the validation code.

A whole file's outcome (its samples as lines and its report) is keyed by the file's bytes, its media folders and the
context, with the version of every media file its rows name: a file revalidated unchanged, its media unchanged, is
answered from that entry without parsing a row.

The entry also holds each row's outcome as columns, with the number of rows and a digest of their texts: a JSONL file
that starts with the same rows (rows appended since), in the same media folders and context, takes the outcome of
those rows from it whole.

A row's record (its sample line, its outcome: issues, escaped special tokens, what it was shrunk to, whether its
media passed; its GX summary line and duplicate fingerprint) is keyed by the row's own text, the media folders and the
context, and holds the digests of the media files it names: a row whose media still have those digests takes its
record, so a file revalidated with a few new or changed rows checks only those (components/data/validate.py).
What the checks learned of a media file (decode result, token count per media setting) is kept by the context, the
file's path and its digest, so rows checked later do not decode a file seen before.
Media digests (sha256 of the file's
bytes) are cached by (path, size, mtime_ns), so an unchanged file is not read again; an object-store URI's by (URI,
its version token: ETag, modification time, size), so an unchanged object is not downloaded again.

It is an optimisation only: a missing, unreadable or corrupt cache database is recreated (or, where it cannot be,
left out), and validation recomputes; the report is the same either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from components.config import cache_root
from components.data.media import file_digest
from components.storage import StorageError, is_uri, object_token

log = logging.getLogger(__name__)

MISSING = "missing"  # the digest of a path that cannot be read (the media check reports it)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, digest TEXT)",
    # a row's record: its sample line around the index (bytes) and the rest as JSON
    "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, head BLOB, tail BLOB, meta TEXT)",
    "DROP TABLE IF EXISTS rows",  # the records of older code (one JSON text per row)
    # one entry per (data file path, context): the newest validation of that file, replaced when the file changes;
    # with its group (media folders and context), its number of rows and the digest of their texts, and each row's
    # outcome as columns (`rows`: what a longer file that starts with the same rows takes from it)
    "CREATE TABLE IF NOT EXISTS file_entries (slot TEXT PRIMARY KEY, file_key TEXT, grp TEXT, nrows INTEGER, "
    "rows_digest TEXT, media TEXT, entry BLOB, rows BLOB)",
    "CREATE INDEX IF NOT EXISTS file_entries_grp ON file_entries (grp, nrows)",
    "DROP TABLE IF EXISTS files",  # the whole-file entries of older code
    # what a media file's checks found (decode result, token counts), by context, path and the file's digest
    "CREATE TABLE IF NOT EXISTS media (key TEXT PRIMARY KEY, facts TEXT)",
)
# The modules whose code decides a row's outcome: a change to any of them is a new cache context.
_CODE = ("rows", "remote", "media", "media_checks", "row_checks", "collator", "batching", "prepare", "validate",
         "expectations")  # fmt: skip


def default_path() -> Path:
    return cache_root() / "validation" / "cache.sqlite"


def code_version() -> str:
    """A hash of the validation code itself (results computed by older code are never reused)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE:
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()


def processor_key(path: str, revision: str | None, processor: Any, stops: Sequence[str]) -> str:
    """The processor's identity: the checkpoint's files other than weights (configs, tokenizer, chat template, by
    content) when it is a local folder, else its path and revision with the processor's own configuration; plus the
    stop tokens validation counts with."""
    h = hashlib.sha256()
    folder = Path(path)
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix not in (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5"):
                h.update(str(p.relative_to(folder)).encode() + b"\0" + file_digest(p).encode())
    else:
        h.update(f"{path}@{revision}".encode())
        h.update(processor.to_json_string().encode() if hasattr(processor, "to_json_string") else b"")
        h.update(str(getattr(processor, "chat_template", "")).encode())
    h.update(type(processor).__name__.encode())
    h.update(json.dumps(list(stops)).encode())
    return h.hexdigest()


def context_key(*parts: Any) -> str:
    """One key for everything besides the row and its media that decides a row's outcome."""
    text = json.dumps([code_version(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ValidationCache:
    """sqlite-backed; every failure to read or write is logged and turned into a miss."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.hits = self.misses = 0
        self._digests: dict[tuple[str, int, int | str], str] = {}  # (path, size, mtime_ns or token) -> digest
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except sqlite3.Error as e:  # a corrupt file: start a new one
            log.warning("validation cache %s unreadable (%s): recreating it", self.path, e)
            try:
                self.path.unlink(missing_ok=True)
                self._db = self._open()
            except (OSError, sqlite3.Error) as e2:
                log.warning("validation cache disabled: %s", e2)
                self._db = None
        except OSError as e:
            log.warning("validation cache disabled: %s", e)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for stmt in _SCHEMA:
            db.execute(stmt)
        db.execute("SELECT count(*) FROM records WHERE key = ''").fetchone()  # a damaged file fails here, not later
        db.commit()
        return db

    def _safely(self, what: str, fn, default):
        if self._db is None:
            return default
        try:
            return fn(self._db)
        except sqlite3.Error as e:
            log.warning("validation cache %s failed (%s): recomputing without it", what, e)
            self._db = None
            return default

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def digests(self, paths: Iterable[str]) -> dict[str, str]:
        """sha256 of each file's bytes (MISSING where it cannot be read), read only when (size, mtime_ns) changed (an
        object-store URI: when its version token changed)."""
        out, todo = {}, []
        for p in dict.fromkeys(paths):
            try:
                size, mtime = _version(p)
            except (OSError, StorageError):
                out[p] = MISSING
                continue
            known = self._digests.get((p, size, mtime))
            if known is not None:
                out[p] = known
            else:
                todo.append((p, size, mtime))
        stored = self._lookup("digests", "path", [p for p, _, _ in todo], "size, mtime_ns, digest")
        new = []
        for p, size, mtime in todo:
            hit = stored.get(p)
            if hit is not None and hit[0] == size and hit[1] == mtime:
                digest = hit[2]
            else:
                try:
                    digest = file_digest(p)
                except (OSError, StorageError):
                    digest = MISSING
                else:
                    new.append((p, size, mtime, digest))
            out[p] = digest
            if digest != MISSING:
                self._digests[p, size, mtime] = digest
        if new:
            sql = "INSERT OR REPLACE INTO digests VALUES (?,?,?,?)"
            self._safely("write", lambda db: (db.executemany(sql, new), db.commit()), None)
        return out

    def _lookup(self, table: str, column: str, keys: list[str], fields: str) -> dict[str, tuple]:
        def run(db: sqlite3.Connection) -> dict[str, tuple]:
            found = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {column}, {fields} FROM {table} WHERE {column} IN ({marks})"  # noqa: S608 - ours
                found |= {r[0]: r[1:] for r in db.execute(sql, chunk)}
            return found

        return self._safely("read", run, {}) if keys else {}

    def get_records(self, keys: list[str]) -> dict[str, dict]:
        """Stored row records of the keys found, each a dict with its `line` as (head, tail) bytes where it has one
        (an unreadable entry is a miss)."""
        found = {}
        for key, (head, tail, meta) in self._lookup("records", "key", keys, "head, tail, meta").items():
            try:
                record = orjson.loads(meta)
            except (TypeError, ValueError):  # (orjson.JSONDecodeError is a ValueError)
                continue
            if head is not None:
                record["line"] = (head, tail)
            found[key] = record
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_records(self, items: dict[str, dict]) -> None:
        # written by json (orjson would write NaN as null), read by orjson: a value orjson cannot read back (NaN, an
        # integer over 64 bits) makes its entry a miss, checked again
        data = []
        for key, record in items.items():
            head, tail = record.get("line", (None, None))
            meta = json.dumps({k: v for k, v in record.items() if k != "line"}, sort_keys=True)
            data.append((key, head, tail, meta))
        sql = "INSERT OR REPLACE INTO records VALUES (?,?,?,?)"
        self._safely("write", lambda db: (db.executemany(sql, data), db.commit()), None)

    def get_media(self, keys: list[str]) -> dict[str, Any]:
        """Stored facts of media files (components/data/validate.py) of the keys found."""
        found = {}
        for key, (text,) in self._lookup("media", "key", keys, "facts").items():
            try:
                found[key] = orjson.loads(text)
            except (TypeError, ValueError):
                continue
        return found

    def put_media(self, items: dict[str, Any]) -> None:
        data = [(k, json.dumps(v, sort_keys=True)) for k, v in items.items()]
        sql = "INSERT OR REPLACE INTO media VALUES (?,?)"
        self._safely("write", lambda db: (db.executemany(sql, data), db.commit()), None)

    def get_file(self, slot: str, file_key: str) -> tuple[dict[str, Any], bytes] | None:
        """(media versions, entry) stored for `slot` when it holds `file_key`, else None."""

        def run(db: sqlite3.Connection):
            return db.execute("SELECT file_key, media, entry FROM file_entries WHERE slot = ?", (slot,)).fetchone()

        found = self._safely("read", run, None)
        if found is None or found[0] != file_key:
            return None
        try:
            return json.loads(found[1]), zlib.decompress(found[2])
        except (TypeError, ValueError, zlib.error):
            return None

    def file_candidates(self, group: str, nrows: int) -> list[tuple[str, int, str]]:
        """(slot, rows, rows digest) of the entries of `group` with at most `nrows` rows, the most rows first."""

        def run(db: sqlite3.Connection):
            sql = ("SELECT slot, nrows, rows_digest FROM file_entries WHERE grp = ? AND nrows <= ? "
                   "AND rows_digest IS NOT NULL ORDER BY nrows DESC LIMIT 16")  # fmt: skip
            return [tuple(r) for r in db.execute(sql, (group, nrows))]

        return self._safely("read", run, [])

    def get_file_rows(self, slot: str) -> tuple[dict[str, Any], bytes, bytes] | None:
        """(media versions, entry, rows) stored for `slot`, else None."""

        def run(db: sqlite3.Connection):
            return db.execute("SELECT media, entry, rows FROM file_entries WHERE slot = ?", (slot,)).fetchone()

        found = self._safely("read", run, None)
        if found is None or found[2] is None:
            return None
        try:
            return json.loads(found[0]), zlib.decompress(found[1]), zlib.decompress(found[2])
        except (TypeError, ValueError, zlib.error):
            return None

    def put_file(
        self,
        slot: str,
        file_key: str,
        media: dict[str, Any],
        entry: bytes,
        group: str | None = None,
        nrows: int = 0,
        rows_digest: str | None = None,
        rows: bytes | None = None,
    ) -> None:
        data = (slot, file_key, group, nrows, rows_digest, json.dumps(media), zlib.compress(entry, 1),
                zlib.compress(rows, 1) if rows is not None else None)  # fmt: skip
        sql = "INSERT OR REPLACE INTO file_entries VALUES (?,?,?,?,?,?,?,?)"
        self._safely("write", lambda db: (db.execute(sql, data), db.commit()), None)


def _version(path: str) -> tuple[int, int | str]:
    """What changes when a file's bytes do: (size, mtime_ns) of a local file; (-1, version token) of an object-store
    URI (stored in the same columns). Raises OSError / StorageError when it cannot be read."""
    if is_uri(path):
        return -1, object_token(path)
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def media_versions(paths: Iterable[str]) -> dict[str, Any]:
    """What changes when each file's bytes do (_version), None where it cannot be read."""
    out: dict[str, Any] = {}
    for p in dict.fromkeys(paths):
        try:
            out[p] = list(_version(p))
        except (OSError, StorageError):
            out[p] = None
    return out
