import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_preprocess_benchmark_runs():
    """The benchmark runs end to end on a few rows (its timing is reported, not asserted: see docs/benchmarks.md)."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "preprocess.py"), "--json", "--limit", "12", "--repeats", "1"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, timeout=300).stdout)
    assert out["rows"] == 12 and set(out["results"]) == {"videos", "images"}
    for r in out["results"].values():
        assert r["files"] > 0 and r["cold_s"] > 0 and r["warm_s"] > 0 and r["speedup"] > 0
