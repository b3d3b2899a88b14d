"""LLaVA-style dataset format: loading, schema checks and conversion to HF multimodal chat messages.

A row::

    {"id": "...", "system_prompt": "...", "image": "a.png" | ["a.png", "b.png"], "video": "v.mp4" | [...],
     "conversations": [{"from": "human", "value": "<image>\\nWhat colour?"}, {"from": "gpt", "value": "Red."}]}

Each `<image>` / `<video>` placeholder stays where the text puts it; the n-th placeholder of a kind takes the n-th file
of that kind. Paths are relative to the image / video folder, or absolute. An optional `"max_frames": n` samples at
most n frames from this row's videos (instead of `data.num_frames`).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Literal, NoReturn

from components.artifacts import Sample
from components.data.remote import local_file
from components.storage import is_uri, join, parent

PLACEHOLDER = re.compile(r"<(image|video)>")
RowErrorKind = Literal[
    "not_object", "unknown_key", "missing_key", "empty_conversation", "wrong_type", "unknown_role", "role_order",
    "placeholder_in_answer", "empty_answer", "placeholder_mismatch",
]  # fmt: skip


class RowError(ValueError):
    """A bad row: carries the row's index, the kind of problem (a validation issue kind), the reason and the row's id
    (if any)."""

    def __init__(self, index: int, kind: RowErrorKind, reason: str, row_id: str | None = None):
        self.index, self.kind, self.reason, self.row_id = index, kind, reason, row_id
        who = f"row {index}" + (f" (id={row_id})" if row_id is not None else "")
        super().__init__(f"{who}: {reason}")


class DatasetFileError(ValueError):
    """The file itself cannot be read (parse error with line and column, wrong top-level type, encoding)."""


def read_rows(path: str | Path) -> list[Any]:
    """Read a JSON list or a JSONL file (a local path or an object-store URI); parse errors carry line and column."""
    data = read_data_file(path)
    return [data.row(i) for i in range(len(data))]


class DataFile:
    """A dataset file's rows with each row's own text. A JSONL line is parsed when its row is first asked for (a
    line that is no JSON raises DatasetFileError naming it then); a JSON list is parsed whole when read."""

    def __init__(self, name: str | Path, lines: list[str] | None, linenos: list[int], rows: list[Any] | None):
        self.name, self._lines, self._linenos = name, lines, linenos
        self._rows: list[Any] = rows if rows is not None else [_UNREAD] * len(lines or ())

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, i: int) -> Any:
        row = self._rows[i]
        if row is _UNREAD:
            try:
                row = self._rows[i] = json.loads(self._lines[i])
            except json.JSONDecodeError as e:
                raise DatasetFileError(f"{self.name}: line {self._linenos[i]} column {e.colno}: {e.msg}") from None
        return row

    def forget(self, i: int) -> None:
        """Let row i's parsed value go (a JSONL row is parsed again from its line when asked for)."""
        if self._lines is not None:
            self._rows[i] = _UNREAD

    @property
    def is_lines(self) -> bool:
        """A JSONL file: each row's text is its own line."""
        return self._lines is not None

    def text(self, i: int) -> str:
        """The row's own text: its JSONL line as written, or (a JSON list's row) its JSON with sorted keys."""
        if self._lines is not None:
            return self._lines[i]
        return json.dumps(self._rows[i], sort_keys=True, ensure_ascii=False)


_UNREAD = object()


def read_data_file(path: str | Path) -> DataFile:
    """A JSON list or a JSONL file (a local path or an object-store URI) as a DataFile."""
    raw = local_file(path).read_bytes()
    path = Path(path) if not is_uri(path) else _UriName(str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetFileError(f"{path}: not UTF-8 (byte {e.start}: {e.reason})") from None
    text = text.removeprefix("\ufeff")
    if path.suffix == ".jsonl":
        lines, linenos = [], []
        # split on "\n" only: str.splitlines() also breaks on U+2028 etc., which are valid inside JSON strings
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                lines.append(line)
                linenos.append(lineno)
        return DataFile(path, lines, linenos, None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFileError(f"{path}: line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, list):
        raise DatasetFileError(f"{path}: top level must be a list of rows, got {type(data).__name__}")
    return DataFile(path, None, [], data)


class _UriName(str):
    """A URI standing where error messages and the JSONL check use a Path (`suffix`)."""

    @property
    def suffix(self) -> str:
        return Path(self.rsplit("/", 1)[-1]).suffix


def _as_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"'{key}' must be a string or a list of strings, got {type(value).__name__}")


def media_root(folder: str | Path | None, data_path: str | Path, base: Path | None = None) -> Path | str:
    """The absolute folder that a data file's relative media paths resolve against: `folder` (itself relative to
    `base`, else the working directory) when one is given for this data, else the data file's own folder. Never a
    folder of other data: a user's file is checked against the user's media. A URI folder (or a URI data file's
    folder) is returned as a URI string."""
    base = Path.cwd() if base is None else base.absolute()
    if is_uri(folder) or (folder is None and is_uri(data_path)):
        return str(folder).rstrip("/") if folder is not None else parent(str(data_path))
    if folder is not None:
        root = Path(folder)
        return root if root.is_absolute() else base / root
    data = Path(data_path)
    return (data if data.is_absolute() else base / data).parent


def resolve_media(path: str, folder: str | Path | None, base: Path | None = None) -> Path | str:
    if is_uri(path) or (is_uri(folder) and not Path(path).is_absolute()):
        return join(str(folder), path) if folder is not None else path
    p = Path(path)
    if p.is_absolute():
        return p
    if folder is not None:
        root = Path(folder)
        if not root.is_absolute() and base is not None:
            root = base / root
        return root / p
    return (base / p) if base is not None else p


@functools.lru_cache(maxsize=1 << 16)
def _resolved(path: str, folder: str | Path | None, base: Path | None) -> str:
    """resolve_media as a string, memoised: a dataset names the same media files in many rows."""
    return str(resolve_media(path, folder, base))


def parse_row(
    row: Any,
    index: int,
    user_key: str = "human",
    assistant_key: str = "gpt",
    system_key: str = "system",
    image_folder: str | Path | None = None,
    video_folder: str | Path | None = None,
    base: Path | None = None,
) -> Sample:
    """Check the row's structure and turn it into a Sample; raises RowError with the kind and reason."""
    if not isinstance(row, dict):
        raise RowError(index, "not_object", f"row must be an object, got {type(row).__name__}")
    row_id = row.get("id")
    row_id = None if row_id is None else str(row_id)

    def fail(kind: RowErrorKind, reason: str) -> NoReturn:
        raise RowError(index, kind, reason, row_id)

    known = {"id", "system_prompt", "image", "video", "conversations", "max_frames"}
    unknown = sorted(set(row) - known)
    if unknown:
        fail("unknown_key", f"unknown keys {unknown}")
    if "conversations" not in row:
        fail("missing_key", "missing key 'conversations'")
    convs = row["conversations"]
    if not isinstance(convs, list) or not convs:
        fail("empty_conversation", "'conversations' must be a non-empty list")
    system = row.get("system_prompt")
    if system is not None and not isinstance(system, str):
        fail("wrong_type", "'system_prompt' must be a string")
    max_frames = row.get("max_frames")
    if max_frames is not None and (type(max_frames) is not int or max_frames < 1):
        fail("wrong_type", f"'max_frames' must be a positive integer, got {max_frames!r}")
    try:
        images = _as_list(row.get("image"), "image")
        videos = _as_list(row.get("video"), "video")
    except ValueError as e:
        fail("wrong_type", str(e))

    roles = {user_key: "user", assistant_key: "assistant", system_key: "system"}
    turns: list[tuple[str, str]] = []
    for t, turn in enumerate(convs):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            fail("wrong_type", f"turn {t}: must be an object with 'from' and 'value'")
        if not isinstance(turn["value"], str):
            fail("wrong_type", f"turn {t}: 'value' must be a string, got {type(turn['value']).__name__}")
        role = roles.get(turn["from"])
        if role is None:
            fail(
                "unknown_role", f"turn {t}: unknown role {turn['from']!r} (expected {user_key!r} or {assistant_key!r})"
            )
        if role == "system":
            if t != 0 or system is not None:
                fail(
                    "role_order", f"turn {t}: a system turn may only come first, and not together with 'system_prompt'"
                )
            system = turn["value"]
            continue
        turns.append((role, turn["value"]))
    if not turns:
        fail("role_order", "no user/assistant turns")
    for t, (role, _) in enumerate(turns):
        expected = "user" if t % 2 == 0 else "assistant"
        if role != expected:
            fail(
                "role_order",
                f"bad role order: turn {t} is {role!r}, expected {expected!r} (turns must alternate, user first)",
            )
    if turns[-1][0] != "assistant":
        fail("role_order", "the last turn must be an assistant answer")
    for t, (role, text) in enumerate(turns):
        if role == "assistant" and PLACEHOLDER.search(text):
            fail("placeholder_in_answer", f"turn {t}: media placeholders are only allowed in user turns")
        if role == "assistant" and not text.strip():
            fail("empty_answer", f"turn {t}: empty assistant answer")
    text = "".join(v for _, v in turns)
    for kind, files in (("image", images), ("video", videos)):
        n = len(re.findall(f"<{kind}>", text))
        if n != len(files):
            fail(
                "placeholder_mismatch",
                f"placeholder count mismatch: {n} <{kind}> placeholder(s) for {len(files)} {kind} file(s)",
            )
    return Sample(
        index=index,
        id=row_id,
        system_prompt=system,
        turns=turns,
        images=[_resolved(p, image_folder, base) for p in images],
        videos=[_resolved(p, video_folder, base) for p in videos],
        raw=row,
        max_frames=max_frames,
    )


def to_messages(sample: Sample) -> list[dict]:
    """HF multimodal chat messages; placeholders become {"type": "image"|"video"} parts at their position."""
    messages: list[dict] = []
    if sample.system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": sample.system_prompt}]})
    for role, text in sample.turns:
        parts: list[dict] = []
        pos = 0
        for m in PLACEHOLDER.finditer(text):
            chunk = text[pos : m.start()]
            if chunk.strip():
                parts.append({"type": "text", "text": chunk.strip("\n")})
            parts.append({"type": m.group(1)})
            pos = m.end()
        tail = text[pos:]
        if tail.strip() or not parts:
            parts.append({"type": "text", "text": tail.strip("\n") if parts else tail})
        messages.append({"role": role, "content": parts})
    return messages
