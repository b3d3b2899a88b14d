"""The layout the README shows is the layout of the code: every module is listed with its line, every listed path
exists, the library's top level stays small and a family file stays a small declarative entry."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "steps", "pipelines", "materializers")


def readme_layout() -> dict[str, str]:
    """path -> description, from the README's "Layout" code block (a path ending in / stands for its whole folder)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Layout\n.*?```\n(.*?)```", text, flags=re.S).group(1)
    entries, last = {}, None
    for line in block.splitlines():
        m = re.match(r"(\S+)\s+(.*)", line)
        if m and not line.startswith(" "):
            last = m.group(1)
            entries[last] = m.group(2)
        elif last and line.strip():
            entries[last] += " " + line.strip()
    return entries


def modules() -> set[str]:
    found = set()
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            if p.name != "__init__.py" or p.parent.name == "steps":
                found.add(str(p.relative_to(ROOT)))
    return found


def test_readme_layout_lists_every_module_and_only_real_paths():
    entries = readme_layout()
    folders = [p for p in entries if p.endswith("/")]
    missing = sorted(m for m in modules() if m not in entries and not any(m.startswith(f) for f in folders))
    assert not missing, f"modules missing from the README layout: {missing}"
    stale = sorted(p for p in entries if not (ROOT / p.split(",")[0]).exists())
    assert not stale, f"README layout lists paths that do not exist: {stale}"
    assert all(desc.strip() for desc in entries.values())


def test_library_top_level_is_small():
    top = [p.name for p in (ROOT / "components").glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 8, top


def test_family_files_are_small_declarative_entries():
    files = [p for p in (ROOT / "components/models/families").glob("*.py") if p.name != "__init__.py"]
    lines = [len(p.read_text().splitlines()) for p in files]
    assert statistics.median(lines) <= 30, dict(zip((p.name for p in files), lines, strict=True))
    for p in files:
        imports = re.findall(r"^(?:from|import) (\S+)", p.read_text(), flags=re.M)
        assert set(imports) <= {"__future__", "components.models.family"}, (p.name, imports)


def test_documented_module_commands_exist():
    """Every `python -m X` / `--module X` / `zenml pipeline run X` of our own code that the README and docs/ show
    names a module (or pipeline object) that exists, so a doc cannot keep a path the code moved away from."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pattern = re.compile(r"(?:python -m|--module|zenml pipeline run) ((?:components|pipelines|benchmarks|steps)[\w.]*)")
    found = {(doc.name, m.group(1)) for doc in docs for m in pattern.finditer(doc.read_text())}
    assert found, "no documented module command found: the pattern is stale"
    missing = []
    for doc, dotted in sorted(found):
        parts = dotted.split(".")
        as_module = ROOT.joinpath(*parts).with_suffix(".py")
        as_object = ROOT.joinpath(*parts[:-1]).with_suffix(".py")  # pipelines.finetune.finetune: an object in a module
        if as_module.is_file():
            continue
        if as_object.is_file() and re.search(rf"^def {parts[-1]}\b", as_object.read_text(), flags=re.M):
            continue
        missing.append(f"{doc}: {dotted}")
    assert not missing, missing
