from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from components.models.tiny.build import build_tiny


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
