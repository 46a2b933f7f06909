"""The soak: one ``trioflix serve`` under an hour of mixed load with faults (``nox -s soak``).

See :mod:`bench.soak.__main__` for what runs and docs/reliability.md ("Soak") for
the results.
"""
