from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from components.models.tiny.build import build_tiny
from tests.ui_server import start_ui, stop_ui

ROOT = Path(__file__).resolve().parent.parent
# What a developer's checkout may hold that no test may touch: the ZenML repository (its active stack and project in
# .zen/config.yaml), the default MLflow registry and its artifacts, run outputs. Tests run ZenML and pipelines in
# temporary places (tests/zenml_cli.py); `checkout_untouched` checks that they did.
GUARDED = (".zen", "mlflow.db", "mlruns", "outputs")
CHECKOUT = pytest.StashKey[dict]()
ISOLATION = pytest.StashKey[tuple]()


def _fingerprint(path: Path) -> dict[str, object] | None:
    """None when absent; else every file and folder under `path` (itself as "."): a file's sha256 under .zen/, its
    (size, mtime) elsewhere (databases and checkpoints can be large), a folder's entry count."""
    if not path.exists():
        return None
    found = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]
    out: dict[str, object] = {}
    for p in found:
        rel = str(p.relative_to(path)) if p != path else "."
        if p.is_dir():
            out[rel] = ("dir", len(list(p.iterdir())))
        elif path.name == ".zen":
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def checkout_state(root: Path = ROOT) -> dict[str, dict[str, object] | None]:
    return {name: _fingerprint(root / name) for name in GUARDED}


def checkout_changes(before: dict, after: dict) -> list[str]:
    """What differs between two `checkout_state`s, one line a path."""
    lines = []
    for name in GUARDED:
        b, a = before[name], after[name]
        if b == a:
            continue
        if b is None or a is None:
            lines.append(f"{name}: {'created' if b is None else 'removed'}")
            continue
        for rel in sorted(set(b) | set(a)):
            if b.get(rel) != a.get(rel):
                what = "added" if rel not in b else "removed" if rel not in a else f"changed {b[rel]} -> {a[rel]}"
                lines.append(f"{name}/{rel}: {what}")
    return lines


def pytest_configure(config):
    """At session start, before collection: the checkout's fingerprint, and ZenML kept off the user's config and
    checkout for everything in this process and its children (tests/zenml_cli.py gives each CLI run its own place):
    a temporary global config and store, and an explicit repository path without a .zen/, so ZenML finds no
    repository and never reads or rewrites the checkout's .zen/config.yaml."""
    config.stash[CHECKOUT] = checkout_state()
    tmp = Path(tempfile.mkdtemp(prefix="lmms-tests-zenml-"))
    saved = {k: os.environ.get(k) for k in ("ZENML_CONFIG_PATH", "ZENML_REPOSITORY_PATH", "ZENML_ANALYTICS_OPT_IN")}
    os.environ.update(
        ZENML_CONFIG_PATH=str(tmp / "config"), ZENML_REPOSITORY_PATH=str(tmp / "norepo"), ZENML_ANALYTICS_OPT_IN="false"
    )
    config.stash[ISOLATION] = (tmp, saved)


def pytest_unconfigure(config):
    if ISOLATION not in config.stash:
        return
    tmp, saved = config.stash[ISOLATION]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(tmp, ignore_errors=True)


# The longest modules first: `make test` hands whole files to 2 worker processes (pytest-xdist, --dist loadfile) in
# collection order (with --no-loadscope-reorder; by default xdist starts the files with the most tests first), and a
# long file started last would run alone at the end while the other worker idles.
LONGEST_FIRST = ("test_ui_browser.py", "test_cloud_stack.py", "test_pipeline.py", "test_families.py", "test_labels.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order within a file is kept


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched(request):
    """Fails the session (an error after its last test) when the tests changed the checkout's .zen/ (a byte of
    .zen/config.yaml), mlflow.db, mlruns/ or outputs/ (a file or folder created, removed, resized or rewritten)."""
    before = request.config.stash[CHECKOUT]
    yield
    changes = checkout_changes(before, checkout_state())
    if changes:
        pytest.fail(f"the tests changed the checkout {ROOT}:\n" + "\n".join(changes[:50]), pytrace=False)


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """`tiny_path(family)`: the family's tiny checkpoint directory, built once (under $LMMS_CACHE when set)."""
    root = Path(os.environ["LMMS_CACHE"]) if os.environ.get("LMMS_CACHE") else tmp_path_factory.mktemp("lmms-cache")
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny(family, root=root)
        return built[family]

    return get


@pytest.fixture(scope="module")
def one_thread():
    """The tiny models gain nothing from intra-op threads, and OpenMP threads spin badly on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    """One `lmms ui` for the session's UI tests (API and browser): started in an isolated ZenML place on a free
    loopback port (tests/ui_server.py); its jobs and the server stopped at the end."""
    server = start_ui(tmp_path_factory.mktemp("ui"))
    yield server
    stop_ui(server)
