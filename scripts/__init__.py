"""Benchmark and utility scripts; importable as modules (``python -m scripts.bench_models``) so tests import them."""
