"""Benchmarks: scripts that print figures (never timed tests). `make bench` runs harness.py."""
