"""The validation report: the issues found per row (by the per-row checks, and by the Great Expectations suites), the
failed dataset-level expectations, the dataset's shape; its HTML page (with GX's own Data Docs) and the error that
names every bad row and every failed expectation."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
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
    gx_success: bool  # every expectation held (rows named by a failed one may still have been dropped)
    gx_results: dict[str, Any]
    # failed expectations that name no row (dataset shares): the run fails under either on_invalid policy
    expectation_failures: list[str] = field(default_factory=list)
    # (suite name, GX Data Docs HTML page) per suite, rendered on demand (to_html)
    data_docs: Callable[[], list[tuple[str, str]]] | None = field(default=None, repr=False)
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
        return not self.issues and not self.expectation_failures

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
            "expectation_failures": list(self.expectation_failures),
        }

    def folders(self) -> str:
        """Where relative media paths resolved: one folder, or the image and the video folder."""
        if self.image_folder == self.video_folder:
            return str(self.image_folder)
        return f"images: {self.image_folder}, videos: {self.video_folder}"

    def error_message(self, examples: int = 5) -> str:
        """One line per row the per-row checks rejected, one line per failed expectation (with example rows: index
        and id), one line per failed dataset-level expectation."""
        rows = self.issues_by_row()
        lines = [f"{self.source}: {len(rows)} of {self.total} rows are invalid:"] if rows else []
        by_expectation: dict[str, list[Issue]] = {}
        for index, issues in rows.items():
            checks = [i for i in issues if not is_expectation(i.kind)]
            for i in issues:
                if is_expectation(i.kind):
                    by_expectation.setdefault(i.reason.split(":", 1)[0], []).append(i)
            if checks:
                lines.append(
                    f"  {row_name(index, issues[0].row_id)}: " + "; ".join(f"[{i.kind}] {i.reason}" for i in checks)
                )
        for label, issues in by_expectation.items():
            shown = ", ".join(row_name(i.index, i.row_id) for i in issues[:examples])
            more = f" and {len(issues) - examples} more" if len(issues) > examples else ""
            lines.append(f"  failed expectation {label}: {len(issues)} row(s): {shown}{more}")
        if rows and self.image_folder is not None:
            lines.append(f"  (relative media paths resolved against {self.folders()})")
        lines += [f"{self.source}: {failure}" for failure in self.expectation_failures]
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
            [r.get("suite", ""), r["expectation"], json.dumps(r["kwargs"]), r["success"], r["unexpected_count"],
             "" if r.get("observed_value") is None else f"{r['observed_value']:.4g}",
             ", ".join(map(str, r["unexpected_rows"][:examples_per_kind])) or r["error"] or ""]
            for r in self.gx_results.get("expectations", [])
        ]  # fmt: skip
        parts = [
            f"<h1>Dataset validation: {e(self.source)}</h1>",
            f"<p>Relative media paths resolved against {e(self.folders())}</p>" if self.image_folder else "",
            table(["rows", "valid", "invalid", "duplicates", "shrunk", "text-only share", "GX suite"], [totals]),
        ]
        if self.expectation_failures:
            parts.append("<h2>Failed dataset expectations (the run fails)</h2>")
            parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in self.expectation_failures) + "</ul>")
        parts.append("<h2>Issues per reason</h2>")
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
        header = ["suite", "expectation", "arguments", "success", "unexpected", "observed", "example rows"]
        parts.append(table(header, gx_rows))
        for suite, page in self.data_docs() if self.data_docs else []:
            # GX's own Data Docs page of the suite's validation result, isolated in a frame (its own styles)
            parts.append(f"<h3>Great Expectations Data Docs: {e(suite)}</h3>")
            frame = 'style="width:100%;height:720px;border:1px solid #ccc"'
            parts.append(f'<iframe title="GX Data Docs {e(suite)}" {frame} srcdoc="{e(page, quote=True)}"></iframe>')
        style = (
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
        )
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Dataset validation</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
        )


def is_expectation(kind: str) -> bool:
    """Whether an issue's kind is a Great Expectations expectation (`expect_...`) rather than a per-row check."""
    return kind.startswith("expect_")


def row_name(index: int, row_id: str | None) -> str:
    return f"row {index}" + (f" (id={row_id})" if row_id is not None else "")


class DatasetInvalid(ValueError):
    """The dataset has invalid rows and the policy is "fail", or a dataset-level expectation failed (either policy);
    the message names every bad row and every failed expectation."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.error_message())
