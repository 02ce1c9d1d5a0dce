"""adamlab: a command-line experiment runner for optimizer research.

The Python API (`from adamlab import Adam, AdamW, run_sweep, load_results, summarize`) is
resolved on first use, so `import adamlab` and the CLI import neither torch nor pandas.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> "module:attribute", imported when first asked for
_LAZY = {
    "Adam": "adamlab.optimizers.adam:Adam",
    "AdamW": "adamlab.optimizers.adam:AdamW",
    "run_sweep": "adamlab.api:run_sweep",
    "load_results": "adamlab.api:load_results",
    "summarize": "adamlab.api:summarize",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'adamlab' has no attribute {name!r}")
    module_name, attribute = _LAZY[name].split(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value
