import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_dataset_stream_benchmark_runs():
    """The benchmark runs end to end on a few rows, in several shards (its figures are reported, not asserted: see
    docs/benchmarks.md); each row count's content hash read back equals the one written (checked by the script)."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "dataset_stream.py"), "--json", "--rows", "300,900"]
    cmd += ["--shard-rows", "100"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, timeout=600).stdout)
    assert set(out["rows"]) == {"300", "900"} and set(out["peak_ratio"]) == {"save", "load_iterate"}
    assert [out["rows"][n]["shards"] for n in ("300", "900")] == [3 + 1, 9 + 1]  # train shards + one eval shard
    for r in out["rows"].values():
        for step in ("save", "load_iterate"):
            assert r[step]["seconds"] > 0 and r[step]["peak_mb"] > 0 and r[step]["rise_mb"] >= 0
