"""Local paths and object-store URIs (`s3://`, `gs://`, `az://`, ...) through fsspec, and the two ways the pipeline
moves files through an object store:

- `ObjectStore`: content-addressed objects under a root URI (the media cache in the artifact store): an object is
  written once, under a name that is the hash of what it holds, and shared by every later run.
- `ReadThroughCache`: a local folder in front of an object store, so a process downloads each object at most once.

Credentials never pass through here as arguments from a config: an `fsspec` filesystem is either given by the caller
(the steps hand over the ZenML artifact store's own, configured from its secret or service connector) or built from
the URI alone, which makes the cloud SDK read the usual environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*,
instance / workload identity). Errors name the bucket and the object, never a credential."""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

log = logging.getLogger(__name__)

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
# What the filesystem packages raise when the bucket refuses the credentials (botocore / gcsfs / azure codes)
_DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "403", "AuthorizationFailure")


class StorageError(Exception):
    """An object store refused or failed a request; the message names the bucket (and object), no credential."""


def is_uri(path: str | os.PathLike | None) -> bool:
    """Whether `path` is an object-store URI (`s3://bucket/key`, ...), not a local path."""
    if path is None:
        return False
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.lower() in REMOTE_SCHEMES


def bucket(uri: str) -> str:
    """`s3://bucket/key` -> `bucket`."""
    return str(uri).partition("://")[2].split("/", 1)[0]


def join(base: str | os.PathLike, *parts: str) -> str:
    """`base` joined with `parts`: posix joining for URIs (an absolute or URI part replaces it, as for paths)."""
    if not is_uri(base):
        return str(Path(base).joinpath(*parts))
    out = str(base)
    for part in parts:
        if is_uri(part):
            out = part
        else:
            out = posixpath.join(out.rstrip("/") + "/", part)
    scheme, _, rest = out.partition("://")
    return f"{scheme}://{posixpath.normpath(rest)}"


def parent(uri: str | os.PathLike) -> str:
    """The folder of a path or URI."""
    if not is_uri(uri):
        return str(Path(uri).parent)
    scheme, _, rest = str(uri).partition("://")
    return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"


def filesystem(uri: str, fs: fsspec.AbstractFileSystem | None = None) -> fsspec.AbstractFileSystem:
    """The filesystem of `uri`: `fs` if given, else fsspec's for its scheme (credentials from the environment)."""
    return fs if fs is not None else url_to_fs(str(uri))[0]


def describe_error(uri: str, err: BaseException) -> str:
    """A one-line reason for a failed request on `uri`: refused credentials name the bucket."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, PermissionError) or any(code in text for code in _DENIED):
        return (
            f"access to bucket {bucket(uri)!r} denied with the credentials of this environment ({type(err).__name__})"
        )
    if isinstance(err, FileNotFoundError):
        return f"object not found: {uri}"
    return f"cannot read {uri} ({type(err).__name__})"


def check_bucket(uri: str, fs: fsspec.AbstractFileSystem | None = None) -> None:
    """Raise StorageError naming the bucket if it cannot be listed with this environment's credentials."""
    if not is_uri(uri):
        return
    root = f"{uri.partition('://')[0]}://{bucket(uri)}"
    try:
        filesystem(uri, fs).ls(root, detail=False)
    except Exception as e:  # noqa: BLE001 - every SDK has its own error types
        raise StorageError(describe_error(root, e)) from None


def read_bytes(uri: str | os.PathLike, fs: fsspec.AbstractFileSystem | None = None) -> bytes:
    if not is_uri(uri):
        return Path(uri).read_bytes()
    try:
        return filesystem(str(uri), fs).cat_file(str(uri))
    except Exception as e:  # noqa: BLE001
        raise StorageError(describe_error(str(uri), e)) from e


_VERSION_KEYS = ("ETag", "etag", "md5Hash", "VersionId", "LastModified", "last_modified", "updated", "mtime", "size")


def object_token(uri: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """What identifies the current version of an object (ETag / checksum, modification time, size): a changed object
    gets a new token. Raises StorageError naming the object or the bucket."""
    try:
        info = filesystem(uri, fs).info(uri)
    except Exception as e:  # noqa: BLE001
        raise StorageError(describe_error(uri, e)) from e
    return "|".join(f"{k}={info[k]}" for k in _VERSION_KEYS if info.get(k) is not None)


def _atomic_download(fs: fsspec.AbstractFileSystem, uri: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        fs.get_file(uri, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class ReadThroughCache:
    """Local copies of remote objects under `root`, each downloaded once (atomically: a killed download leaves no
    file under its final name). Local paths pass through untouched."""

    root: Path
    fs: fsspec.AbstractFileSystem | None = None
    downloads: int = 0
    bytes: int = 0

    def local_path(self, uri: str, version: str = "") -> Path:
        digest = hashlib.sha256(f"{uri}\n{version}".encode()).hexdigest()[:24]
        return Path(self.root) / digest / posixpath.basename(str(uri).rstrip("/"))

    def fetch(self, uri: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
        """A local file holding `uri`'s bytes (at `target` if given, else under root, keyed by the object's current
        version: a changed object is downloaded again); raises StorageError (naming the bucket or the object) if it
        cannot be read."""
        if not is_uri(uri):
            return Path(uri)
        if target is None:
            target = self.local_path(str(uri), object_token(str(uri), self.fs))
        target = Path(target)
        if not target.is_file():
            try:
                _atomic_download(filesystem(str(uri), self.fs), str(uri), target)
            except Exception as e:  # noqa: BLE001
                raise StorageError(describe_error(str(uri), e)) from e
            self.downloads += 1
            self.bytes += target.stat().st_size
        return target


@dataclass
class ObjectStore:
    """Content-addressed objects under `root` (a URI or a local folder): `put` uploads a file under its name only if
    no object has that name yet (the name is a hash of what it holds, so an existing object is the same bytes)."""

    root: str
    fs: fsspec.AbstractFileSystem | None = None
    uploaded: int = 0
    uploaded_bytes: int = 0
    _names: set[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = str(self.root).rstrip("/")
        self.fs = filesystem(self.root, self.fs) if is_uri(self.root) else (self.fs or fsspec.filesystem("file"))

    def uri(self, name: str) -> str:
        return join(self.root, name)

    def names(self) -> set[str]:
        """The objects under root (listed once, then kept up to date by `put`)."""
        if self._names is None:
            self.fs.invalidate_cache(self.root)  # a listing cached by this filesystem instance may predate objects
            try:
                found = self.fs.ls(self.root, detail=False)
            except FileNotFoundError:
                found = []
            self._names = {posixpath.basename(str(p).rstrip("/")) for p in found}
        return self._names

    def put(self, local: str | os.PathLike, name: str | None = None) -> bool:
        """Upload `local` as `name` (default: its file name) unless it is there; returns whether it uploaded."""
        name = name or Path(local).name
        if name in self.names():
            return False
        target = self.uri(name)
        if not is_uri(self.root):
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self.fs.put_file(str(local), target)
        self._names.add(name)
        self.uploaded += 1
        self.uploaded_bytes += Path(local).stat().st_size
        log.debug("uploaded %s", target)
        return True

    def put_all(self, files: Iterable[str | os.PathLike]) -> dict[str, str]:
        """Upload every file not yet there; returns {local file: object URI}."""
        return {str(f): (self.put(f), self.uri(Path(f).name))[1] for f in files}
