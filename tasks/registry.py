"""Task registry: name -> "module:Class". Adding a task is one file plus one line here.

Kept free of torch so the CLI and config validation can name tasks without importing it.
"""

from __future__ import annotations

import importlib

from adamlab.errors import AdamlabError

TASKS: dict[str, str] = {
    "quadratic": "adamlab.tasks.quadratic:QuadraticTask",
    "mnist_mlp": "adamlab.tasks.mnist_mlp:MnistMlpTask",
    "embedding_sparsity": "adamlab.tasks.embedding_sparsity:EmbeddingSparsityTask",
}


def task_names() -> list[str]:
    return sorted(TASKS)


def load_task(name: str):
    """The Task class registered under ``name`` (imports torch)."""
    try:
        target = TASKS[name]
    except KeyError:
        raise AdamlabError(
            f"unknown task {name!r}; allowed: {', '.join(task_names())}"
        ) from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
