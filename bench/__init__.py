"""Benchmarks: ``nox -s bench`` runs every ``bench/*.py`` not starting with ``_``.

Modules whose names start with ``_`` are helpers (clients, load generators), not
benchmarks. Figures and how to read them are in ``docs/benchmarks.md``.
"""
