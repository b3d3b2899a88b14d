"""Thin ZenML steps: each wraps plain functions from components/.

ZenML's cache key covers a step's own source, not the library it calls: every cached step therefore lists the
library's files as file dependencies, so a change in components/ invalidates the cache.
"""

from pathlib import Path

from zenml.config.cache_policy import CachePolicy

_ROOT = Path(__file__).resolve().parent.parent
LIBRARY_CACHE = CachePolicy(
    file_dependencies=sorted(str(p.relative_to(_ROOT)) for p in (_ROOT / "components").glob("*.py"))
)
