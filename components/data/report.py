"""The validation report: the issues found per row, the dataset's shape, the Great Expectations results; its HTML page
and the error that names every bad row."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Problem = tuple[str, str]  # (kind, reason): what a check finds, before it is attached to a row as an Issue


@dataclass
class Issue:
    index: int
    row_id: str | None
    reason: str
    kind: str


@dataclass
class ValidationReport:
    source: str
    total: int
    valid_indices: list[int]
    issues: list[Issue]
    duplicates: list[tuple[int, int]]  # (index, index of its first occurrence)
    modality_counts: dict[str, int]  # over valid rows
    text_only_share: float
    issue_counts: dict[str, int]  # issues per kind
    gx_success: bool
    gx_results: dict[str, Any]
    bad_rows: dict[int, Any] = field(default_factory=dict, repr=False)  # raw rows of invalid indices
    # rows over max_length that were kept with fewer frames / pixels (data.on_overlength: shrink)
    shrunk: list[dict[str, Any]] = field(default_factory=list)
    escaped: list[int] = field(default_factory=list)  # rows whose literal special tokens were escaped
    # the absolute folders relative image / video paths resolved against (data.image_folder / video_folder, else the
    # data file's own folder)
    image_folder: str | None = None
    video_folder: str | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    def issues_by_row(self) -> dict[int, list[Issue]]:
        rows: dict[int, list[Issue]] = {}
        for issue in self.issues:
            rows.setdefault(issue.index, []).append(issue)
        return dict(sorted(rows.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "image_folder": self.image_folder,
            "video_folder": self.video_folder,
            "total": self.total,
            "num_valid": len(self.valid_indices),
            "num_invalid": len(self.issues_by_row()),
            "valid_indices": list(self.valid_indices),
            "issues": [asdict(i) for i in self.issues],
            "issue_counts": dict(self.issue_counts),
            "duplicates": [list(d) for d in self.duplicates],
            "modality_counts": dict(self.modality_counts),
            "text_only_share": self.text_only_share,
            "num_shrunk": len(self.shrunk),
            "num_escaped": len(self.escaped),
            "shrunk": [dict(r) for r in self.shrunk],
            "gx_success": self.gx_success,
            "gx_results": self.gx_results,
        }

    def folders(self) -> str:
        """Where relative media paths resolved: one folder, or the image and the video folder."""
        if self.image_folder == self.video_folder:
            return str(self.image_folder)
        return f"images: {self.image_folder}, videos: {self.video_folder}"

    def error_message(self) -> str:
        rows = self.issues_by_row()
        lines = [f"{self.source}: {len(rows)} of {self.total} rows are invalid:"]
        for index, issues in rows.items():
            who = f"row {index}" + (f" (id={issues[0].row_id})" if issues[0].row_id is not None else "")
            lines.append(f"  {who}: " + "; ".join(f"[{i.kind}] {i.reason}" for i in issues))
        if self.image_folder is not None:
            lines.append(f"  (relative media paths resolved against {self.folders()})")
        return "\n".join(lines)

    def to_html(self, examples_per_kind: int = 5) -> str:
        e = html.escape
        rows = self.issues_by_row()
        by_kind: dict[str, list[Issue]] = {}
        for issue in self.issues:
            by_kind.setdefault(issue.kind, []).append(issue)

        def table(header: Sequence[str], body: list[Sequence[Any]]) -> str:
            head = "".join(f"<th>{e(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in body)
            return f"<table><tr>{head}</tr>{trs}</table>"

        totals = [self.total, len(self.valid_indices), len(rows), len(self.duplicates), len(self.shrunk)]
        totals += [f"{self.text_only_share:.1%}", "passed" if self.gx_success else "failed"]
        gx_rows = [
            [r["expectation"], json.dumps(r["kwargs"]), r["success"], r["unexpected_count"],
             ", ".join(map(str, r["unexpected_rows"][:examples_per_kind])) or r["error"] or ""]
            for r in self.gx_results.get("expectations", [])
        ]  # fmt: skip
        parts = [
            f"<h1>Dataset validation: {e(self.source)}</h1>",
            f"<p>Relative media paths resolved against {e(self.folders())}</p>" if self.image_folder else "",
            table(["rows", "valid", "invalid", "duplicates", "shrunk", "text-only share", "GX suite"], [totals]),
            "<h2>Issues per reason</h2>",
        ]
        if not self.issues:
            parts.append("<p>No issues.</p>")
        parts.append(table(["kind", "count"], sorted(self.issue_counts.items(), key=lambda kv: -kv[1])))
        for kind, issues in sorted(by_kind.items()):
            shown = issues[:examples_per_kind]
            parts.append(f"<h3>{e(kind)} ({len(issues)}; showing {len(shown)})</h3>")
            parts.append(table(["index", "id", "reason"], [[i.index, i.row_id or "", i.reason] for i in shown]))
        parts.append("<h2>Modalities (valid rows)</h2>")
        parts.append(table(["modality", "rows"], list(self.modality_counts.items())))
        if self.shrunk:
            parts.append(f"<h2>Shrunk to fit max_length, kept ({len(self.shrunk)})</h2>")
            keys = ["index", "id", "tokens_before", "tokens_after", "max_frames", "max_pixels"]
            parts.append(table(keys, [[r[k] if r[k] is not None else "" for k in keys] for r in self.shrunk]))
        if self.duplicates:
            parts.append(f"<h2>Duplicates, kept ({len(self.duplicates)})</h2>")
            parts.append(table(["index", "duplicate of"], self.duplicates[:examples_per_kind]))
        parts.append("<h2>Great Expectations</h2>")
        parts.append(table(["expectation", "arguments", "success", "unexpected", "example rows"], gx_rows))
        style = (
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
        )
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Dataset validation</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
        )


class DatasetInvalid(ValueError):
    """The dataset has invalid rows and the policy is "fail"; the message names every bad row."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.error_message())
