"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the real MNIST files, found only through $ADAMLAB_DATA (tests that need them skip without)
REAL_MNIST = Path(os.environ["ADAMLAB_DATA"]) if os.environ.get("ADAMLAB_DATA") else None
NO_REAL_MNIST = "real MNIST not found: set ADAMLAB_DATA to a folder holding its IDX files"


def real_mnist_missing() -> bool:
    return REAL_MNIST is None or not REAL_MNIST.is_dir()


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


#: the width the CLI's consoles print at in tests, unless a test sets its own (tables fit the
#: width, so a test of what a table holds reads it whole at this width)
TEST_CONSOLE_WIDTH = 250


@pytest.fixture(autouse=True)
def console_width(monkeypatch):
    """Set the CLI consoles' width: `console_width(80)`; every test starts at TEST_CONSOLE_WIDTH."""
    from adamlab.cli.console import stderr, stdout

    def set_width(columns: int) -> None:
        monkeypatch.setattr(stdout, "_width", columns)
        monkeypatch.setattr(stderr, "_width", columns)

    set_width(TEST_CONSOLE_WIDTH)
    return set_width
