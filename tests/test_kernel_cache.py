"""The compiled-kernel cache is this user's alone, and a fallback from the
kernel to tensor ops is logged once and recorded."""

from __future__ import annotations

import logging
import os
import stat
import tempfile

import pytest
import torch

from adamlab.optimizers import adam_kernel, c_kernels
from adamlab.optimizers.adam import AdamW
from adamlab.sweep.environment import implementation_of

SOURCE = "int answer(void) { return 42; }\n"
is_root = hasattr(os, "geteuid") and os.geteuid() == 0


def _compiler_problem() -> str | None:
    try:
        c_kernels.build_shared_library(SOURCE, name="probe", defines={})
    except c_kernels.KernelUnavailable as problem:
        return f"no working C compiler with OpenMP here: {problem}"
    return None


needs_compiler = pytest.mark.skipif(_compiler_problem() is not None, reason=str(_compiler_problem()))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A home cache and a temp directory of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    c_kernels._warn_uncached_once.cache_clear()
    return tmp_path


def _mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_cache_folder_is_created_private(fresh):
    folder = c_kernels.cache_dir()
    assert folder == fresh / "home" / "adamlab" / "kernels"
    assert _mode(folder) == 0o700 and folder.stat().st_uid == os.getuid()


def test_a_cache_folder_of_ours_open_to_others_is_closed_before_use(fresh):
    folder = fresh / "home" / "adamlab" / "kernels"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert c_kernels.cache_dir() == folder and _mode(folder) == 0o700


def test_an_unwritable_home_falls_back_to_a_private_per_user_temp_folder(fresh, monkeypatch):
    (fresh / "afile").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh / "afile"))  # nothing can be made under a file
    folder = c_kernels.cache_dir()
    assert folder == fresh / "tmp" / f"adamlab-kernels-{os.getuid()}" and _mode(folder) == 0o700


@pytest.mark.skipif(not is_root, reason="making a folder owned by another user needs root")
@needs_compiler
def test_a_temp_folder_planted_by_another_user_is_never_used(fresh, monkeypatch, caplog):
    (fresh / "afile").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh / "afile"))
    planted = fresh / "tmp" / f"adamlab-kernels-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="adamlab.optimizers"):
        assert c_kernels.cache_dir() is None
        built = c_kernels.build_shared_library(SOURCE, name="probe", defines={})
    assert planted not in built.parents and _mode(built.parent) == 0o700
    assert list(planted.iterdir()) == []
    assert "built without a cache" in caplog.text


@needs_compiler
def test_a_library_others_can_write_is_not_loaded(fresh):
    built = c_kernels.build_shared_library(SOURCE, name="probe", defines={})
    built.chmod(0o666)  # as if someone else had put their own code there
    with pytest.raises(c_kernels.KernelUnavailable, match="is not a library of this user's that only it can write"):
        c_kernels.build_shared_library(SOURCE, name="probe", defines={})


def test_the_fallback_to_tensor_ops_is_logged_once_and_recorded(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CC", "false")  # a compiler that fails every build
    monkeypatch.setattr(adam_kernel, "_fallback_logged", False)
    adam_kernel._load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="adamlab.optimizers"):
            for dtype in (torch.float32, torch.float64, torch.float32):
                assert adam_kernel.load_kernel(dtype) is None
        warnings = [r for r in caplog.records if "fused Adam kernel is unavailable" in r.getMessage()]
        assert len(warnings) == 1
        optimizer = AdamW([torch.zeros(3, requires_grad=True)])
        assert implementation_of(optimizer).startswith("foreach (kernel unavailable: false failed to build fused_adam_float")
    finally:
        adam_kernel._load.cache_clear()
