"""Helpers the tests and bench/ share: classes, functions and constants that more than one test
module (or a conftest, or a benchmark) imports. Nothing here imports a test module; see
tests/test_layout.py."""
