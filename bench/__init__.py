"""Benchmarks of the offline tooling (run with `make bench`; see bench/README.md)."""
