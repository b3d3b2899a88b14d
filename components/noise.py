"""Library noise filtered in our entry points (`lmms`, the pipeline steps): messages that tell our users nothing they
can act on. Everything else still shows: our own warnings and logs, and every library message not named here.

One function, `quiet_library_noise()`, sets warnings filters and logger filters; it imports no library (the filters
attach to loggers by name, before or after the library creates them) and can be called more than once.
"""

from __future__ import annotations

import logging
import re
import warnings
from importlib.metadata import PackageNotFoundError, version

# Our packages: their FutureWarnings still show.
OUR_MODULES = r"(components|steps|pipelines|materializers|benchmarks)(\.|$)"

# transformers' video processors announce "In v5.22 the capped behavior will become the default" (the per-frame pixel
# cap) on every run, in releases already past 5.22.
TRANSFORMERS_PAST_VERSION = [
    f"transformers.models.{m}.video_processing_{m}" for m in ("qwen2_vl", "qwen3_vl", "cohere_compass")
]
# Great Expectations sets this logger to INFO on import: "Created temporary directory ... for ephemeral docs site".
GX_INFO = ["great_expectations", "great_expectations.data_context.types.base"]
# MLflow, logging our pyfunc model (which carries an explicit signature, components/release/registry.py), asks for
# type hints on `predict` and for an input example: neither is something a user of ours can act on.
MLFLOW_PYFUNC_HINTS = (r".*Add type hints to the .*predict", r".*An input example was not provided when logging")
# bitsandbytes on a CPU with AVX512-BF16 asks for an optional package for a 4-bit CPU kernel we never use.
BNB_CPU_KERNEL = ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from kernels-community")


def _version(package: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in re.findall(r"\d+", version(package))[:2])
    except PackageNotFoundError:
        return ()


class PastVersionNotice(logging.Filter):
    """Drops a record announcing a change "In vX.Y" when `package` is already at X.Y or later."""

    def __init__(self, package: str):
        super().__init__()
        self.package, self.installed = package, _version(package)

    def filter(self, record: logging.LogRecord) -> bool:
        m = re.search(r"\bIn v(\d+)\.(\d+)\b", record.getMessage())
        return not (m and self.installed and (int(m.group(1)), int(m.group(2))) <= self.installed)


class BelowLevel(logging.Filter):
    """Drops records below `level`, whatever level the library sets on its logger."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


class Containing(logging.Filter):
    """Drops records whose message contains `text`."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _add_once(logger: logging.Logger, flt: logging.Filter) -> None:
    if not any(type(f) is type(flt) and vars(f) == vars(flt) for f in logger.filters):
        logger.addFilter(flt)


def quiet_library_noise() -> None:
    """Filter the library noise listed in this module; idempotent."""
    # Libraries' FutureWarnings (deprecations inside torch, transformers, pandas, GX): ours (OUR_MODULES) still show.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("default", category=FutureWarning, module=OUR_MODULES)  # inserted first: wins
    for message in MLFLOW_PYFUNC_HINTS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning, module=r"mlflow(\.|$)")
    for name in TRANSFORMERS_PAST_VERSION:
        _add_once(logging.getLogger(name), PastVersionNotice("transformers"))
    logging.getLogger(GX_INFO[0]).setLevel(logging.WARNING)
    for name in GX_INFO:
        _add_once(logging.getLogger(name), BelowLevel(logging.WARNING))
    _add_once(logging.getLogger(BNB_CPU_KERNEL[0]), Containing(BNB_CPU_KERNEL[1]))
