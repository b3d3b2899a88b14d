"""Thin ZenML steps: each wraps plain functions from components/.

ZenML's cache key covers a step's own source, not the library it calls: every cached step therefore lists every file
of the library (recursively: families, tiny specs, subpackages) as file dependencies, so a change anywhere in
components/ invalidates the cache.

Importing the package filters library noise in the steps' logs (components/noise.py).
"""

from pathlib import Path

from zenml.config.cache_policy import CachePolicy

import components
from components.noise import quiet_library_noise

_ROOT = Path(components.__file__).resolve().parent.parent
LIBRARY_FILES = sorted(str(p.relative_to(_ROOT)) for p in Path(components.__file__).parent.rglob("*.py"))
LIBRARY_CACHE = CachePolicy(file_dependencies=LIBRARY_FILES)

quiet_library_noise()
