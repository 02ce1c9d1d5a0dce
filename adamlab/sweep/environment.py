"""The environment a trial ran in, captured in the process that ran it (a Ray node may differ from
the driver): what decides whether an old record may stand beside a new one.

- `source_hash`: sha256 of every .py file of the installed adamlab (the adamlab package and its
  cli, optimizers and tasks subpackages), so a fix in optimizers/adam.py changes it even when the
  version number does not;
- `adamlab_version`, `torch_version`;
- `implementation`: the optimizer code path that actually ran (e.g. "fused kernel",
  "foreach (kernel unavailable: no C compiler found)", "torch.optim.SGD");
- for information only: the host name and the git commit of the checkout (and whether it had
  local changes).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import socket
from pathlib import Path
from typing import Any

from adamlab import __version__
from adamlab.store.records import RecordEnvironment

#: the packages whose code makes a trial's numbers (installed as adamlab.* subpackages)
SOURCE_PACKAGES = ("adamlab", "adamlab.cli", "adamlab.optimizers", "adamlab.tasks")


@functools.cache
def source_hash() -> str:
    """16 hex digits of the sha256 over the relative path and bytes of every adamlab .py file."""
    roots = []
    for name in SOURCE_PACKAGES:
        spec = importlib.util.find_spec(name)
        roots += [(name, Path(p)) for p in ((spec.submodule_search_locations or []) if spec else [])]
    return hash_sources(roots)


def hash_sources(roots: list[tuple[str, Path]]) -> str:
    """16 hex digits of the sha256 over (package name, relative path, bytes) of each .py file."""
    digest = hashlib.sha256()
    for name, root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def _git() -> dict[str, Any] | None:
    from adamlab.sweep.provenance import git_commit

    return git_commit()


def implementation_of(optimizer: Any) -> str:
    """The code path `optimizer` runs its update with, in words."""
    code_path = getattr(optimizer, "code_path", None)
    if code_path is not None:  # a stack's optimizer (adamlab.optimizers.stacked)
        return code_path()
    module = type(optimizer).__module__
    if module.startswith("torch.optim"):
        return f"torch.optim.{type(optimizer).__name__}"
    implementation = getattr(optimizer, "implementation", None)
    if implementation in ("plain", "foreach"):
        return implementation
    if implementation in ("auto", "fused"):
        return _fused_path(optimizer)
    return type(optimizer).__name__


def _fused_path(optimizer: Any) -> str:
    # fast_adam hands CPU float32/float64 tensors to the kernel when it loads, the rest to foreach
    import torch

    from adamlab.optimizers.adam_kernel import kernel_problem

    params = [p for group in optimizer.param_groups for p in group["params"]]
    kinds = {p.dtype for p in params if p.is_cpu and p.dtype in (torch.float32, torch.float64)}
    if not kinds:
        return "foreach"
    problems = {str(problem) for problem in map(kernel_problem, kinds) if problem is not None}
    if problems:
        return f"foreach (kernel unavailable: {'; '.join(sorted(problems))})"
    return "fused kernel"


def data_hash_of(task: str, task_params: dict[str, Any]) -> str | None:
    """The task's fingerprint of the data files it reads with these parameters
    (`Task.data_identity`); None when it reads none, or they cannot be found or read here."""
    from adamlab.errors import AdamlabError
    from adamlab.tasks.registry import load_task

    try:
        task_cls = load_task(task)
        return task_cls.data_identity(task_cls.Params.model_validate(task_params))
    except (AdamlabError, OSError, ValueError):  # no data here: nothing to compare with
        return None


def capture_environment(implementation: str = "", data_hash: str | None = None) -> RecordEnvironment:
    """This process's environment, with the optimizer path that ran (see `implementation_of`)
    and the fingerprint of the data the trial read (see `data_hash_of`)."""
    import torch

    return RecordEnvironment(
        source_hash=source_hash(),
        adamlab_version=__version__,
        torch_version=str(torch.__version__),
        implementation=implementation,
        hostname=socket.gethostname(),
        git=_git(),
        data_hash=data_hash,
    )
