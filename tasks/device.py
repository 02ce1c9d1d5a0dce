"""Turn the sweep's `device:` value into a torch.device, with a clear error when it can't be had."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adamlab.errors import AdamlabError

if TYPE_CHECKING:
    # lazy: a device's name is checked without torch where it can be (adamlab.tasks.device.PLAIN_DEVICES)
    import torch

#: device names that need no torch to be checked (the read commands stay torch-free)
PLAIN_DEVICES = ("cpu",)


def resolve_device(spec: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available, else CPU)."""
    # lazy: a device's name is checked without torch where it can be (adamlab.tasks.device.PLAIN_DEVICES)
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise AdamlabError(
                f"device {spec!r} asked for, but torch sees no CUDA device "
                f"(torch {torch.__version__}); use device: cpu or auto"
            )
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AdamlabError(
                f"device {spec!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return device
    raise AdamlabError(f"unknown device {spec!r}; allowed: cpu, cuda, cuda:N, auto")

