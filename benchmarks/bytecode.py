"""Compile adamlab's modules to bytecode before a benchmark times whole processes.

An installed package has its bytecode (pip writes it; an editable checkout's first run does),
while torch's and pandas' are always there. Where PYTHONDONTWRITEBYTECODE is set, or in a fresh
checkout, every adamlab process would compile its ~100 modules from source (~50 ms a process),
a cost no user pays twice: timing that would compare adamlab's first run with torch's hundredth.
"""

from __future__ import annotations

import subprocess

PACKAGES = ("adamlab", "adamlab.cli", "adamlab.optimizers", "adamlab.tasks")

_COMPILE = (
    "import compileall, importlib.util\n"
    "for name in {packages!r}:\n"
    "    for folder in importlib.util.find_spec(name).submodule_search_locations:\n"
    "        compileall.compile_dir(folder, quiet=1)\n"
)


def compile_bytecode(python: str) -> None:
    """Write the bytecode of the adamlab that interpreter `python` imports."""
    subprocess.run([python, "-c", _COMPILE.format(packages=PACKAGES)], check=True)
