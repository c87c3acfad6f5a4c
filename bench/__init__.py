"""Benchmarks: `python -m bench.run` measures everything in one run (see README.md)."""
