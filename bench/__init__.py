"""Benchmarks (issue 10): `./run bench` or `.venv/bin/python bench/run.py`. Not part of the test suite."""
