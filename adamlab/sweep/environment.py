"""The environment a trial ran in, captured in the process that ran it (a Ray node may differ from
the driver): what decides whether an old record may stand beside a new one.

- `source_hash`: sha256 over the source of the code that makes a trial's numbers: the optimizers
  and tasks packages (the built-ins' implementations and specs, the stacks, the kernel), the
  training loop and what decides stacks (`ENGINE_MODULES`). Each module's bytes are keyed by its
  module name, not its path, so an editable install and a wheel of the same code hash the same.
  The analysis, plots, CLI and help texts are not in it: editing them leaves records current.
- `plugins`: {file: hash} of the user's own modules a trial ran (a plug-in optimizer's or
  task's), so editing the user's optimizer file makes exactly its records stale;
- `adamlab_version`, `torch_version` (read from torch's version file, without importing torch);
- `implementation`: the optimizer code path that actually ran (e.g. "fused kernel",
  "foreach (kernel unavailable: no C compiler found)", "torch.optim.SGD"), and for a plain
  PyTorch task how its members ran ("vmap", or "one at a time" and why);
- for information only: the host name and the git commit of the checkout (and whether it had
  local changes).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store.records import RecordEnvironment
from adamlab.tasks.registry import task_spec

#: packages whose every module makes a trial's numbers (installed as adamlab.* subpackages)
ENGINE_PACKAGES = ("adamlab.optimizers", "adamlab.tasks")
#: single modules that do: the training loop, trials and stacks, plug-in loading
ENGINE_MODULES = (
    "adamlab.sweep.runner", "adamlab.sweep.stacking", "adamlab.sweep.trials",
    "adamlab.targets", "adamlab.entry_points",
)
HASH_LENGTH = 16


def engine_sources() -> dict[str, Path]:
    """{module name: source file} of every engine module, found without importing them."""
    sources: dict[str, Path] = {}
    for package in ENGINE_PACKAGES:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            root = Path(root)
            for path in sorted(root.rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                sources[".".join((package, *parts))] = path
    for name in ENGINE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            sources[name] = Path(spec.origin)
    return sources


@functools.cache
def source_hash() -> str:
    """16 hex digits of the sha256 over (module name, bytes) of every engine module."""
    return hash_modules(engine_sources())


def hash_modules(sources: dict[str, Path]) -> str:
    """16 hex digits of the sha256 over (module name, bytes) of each module, by name."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(f"{name}\0".encode())
        digest.update(Path(sources[name]).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:HASH_LENGTH]


def file_hash(path: str | Path) -> str:
    """16 hex digits of the sha256 of one file's bytes ("missing" when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:HASH_LENGTH]
    except OSError:
        return "missing"


def plugin_files(*targets: str) -> dict[str, str]:
    """{source file: hash} of the modules of `targets` ("module:attribute", imported already)."""
    files: dict[str, str] = {}
    for target in targets:
        if not target:
            continue
        module = sys.modules.get(target.split(":")[0])
        path = getattr(module, "__file__", None)
        if path:
            files[str(Path(path).resolve())] = file_hash(path)
    return files


@functools.cache
def torch_version() -> str:
    """torch.__version__ without importing torch (its version.py), else the distribution's."""
    spec = importlib.util.find_spec("torch")
    for root in (spec.submodule_search_locations or []) if spec else []:
        try:
            text = (Path(root) / "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if found:
            return found.group(1)
    try:
        return version("torch")
    except PackageNotFoundError:
        return "none"


@functools.cache
def _git() -> dict[str, Any] | None:
    return git_commit()


def git_commit(path: Path | None = None) -> dict[str, Any] | None:
    """Commit (and whether the tree has local changes) of the git checkout holding adamlab's code."""
    where = path or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


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
    # lazy: the fused kernel's path is told only of an optimizer built, so torch is loaded
    import torch

    # lazy: loads torch, loaded already where an optimizer was built
    from adamlab.optimizers.adam_kernel import kernel_problem

    params = [p for group in optimizer.param_groups for p in group["params"]]
    kinds = {p.dtype for p in params if p.is_cpu and p.dtype in (torch.float32, torch.float64)}
    if not kinds:
        return "foreach"
    problems = {str(problem) for problem in map(kernel_problem, kinds) if problem is not None}
    if problems:
        return f"foreach (kernel unavailable: {'; '.join(sorted(problems))})"
    return "fused kernel"


def data_hash_of(task: str, task_params: dict[str, Any], target: str = "",
                 folder: str | Path | None = None) -> str | None:
    """The task's fingerprint of the data files it reads with these parameters
    (`TaskSpec.data_identity`); None when it reads none, or they cannot be found or read here."""
    try:
        spec = task_spec(task, target, folder)
        return spec.data_identity(spec.Params.model_validate(task_params))
    except (AdamlabError, OSError, ValueError):  # no data here: nothing to compare with
        return None


def capture_environment(implementation: str = "", plugins: dict[str, str] | None = None,
                        data_hash: str | None = None) -> RecordEnvironment:
    """This process's environment, with the optimizer path that ran (see `implementation_of`),
    the user's plug-in files a trial ran ({file: hash}, see `plugin_files`) and the fingerprint
    of the data it read (see `data_hash_of`). Torch-free."""
    return RecordEnvironment(
        source_hash=source_hash(),
        adamlab_version=__version__,
        torch_version=torch_version(),
        implementation=implementation,
        hostname=socket.gethostname(),
        git=_git(),
        plugins=dict(plugins or {}),
        data_hash=data_hash,
    )
