"""Speed and memory benchmarks (`lmms bench`)."""
