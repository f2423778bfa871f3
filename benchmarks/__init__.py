"""Benchmarks at dataset scale: ``python -m benchmarks.run`` (see benchmarks/README.md)."""
