"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def real_mnist() -> Path:
    """The real MNIST folder named by ADAMLAB_DATA (the only place tests look for data)."""
    folder = os.environ.get("ADAMLAB_DATA")
    if not folder:
        pytest.skip("ADAMLAB_DATA is not set: it names the folder with the real MNIST IDX files")
    if not Path(folder).is_dir():
        pytest.skip(f"ADAMLAB_DATA={folder} is not a folder")
    return Path(folder)
