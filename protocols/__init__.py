"""Sans-IO protocol code for trioflix: bytes in, events out.

Nothing under this package performs I/O, reads a clock, or imports ``trioflix``;
``tests/test_architecture.py`` enforces that.
"""
