"""atheris fuzz targets (``nox -s fuzz``); see README.md. Only test_harness.py is collected."""
