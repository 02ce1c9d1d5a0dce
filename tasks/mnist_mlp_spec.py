"""The mnist_mlp task's metadata, torch-free (see tasks/spec.py); the task is mnist_mlp.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from adamlab.tasks.mnist_data import (
    data_fingerprint,
    default_data_dir,
    discard_read_ahead,
    find_mnist_files,
    idx_count,
    locate_mnist,
    read_ahead,
)
from adamlab.tasks.spec import TaskParams, TaskSpec

if TYPE_CHECKING:
    import threading

#: MNIST's digits
MNIST_CLASSES = 10
#: the last 10,000 of MNIST's 60,000 training images are the validation set by default
VALIDATION_FRACTION = 1.0 / 6.0


class MnistMlpParams(TaskParams):
    widths: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (256,), description="hidden layer sizes; [] is multinomial logistic regression"
    )
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    data_dir: str | None = Field(
        None,
        description="folder with the four MNIST IDX files (gz or raw), or its mnist/ or "
        "MNIST/raw/ subfolder; None = $ADAMLAB_DATA, else ./data",
    )
    download: bool = Field(True, description="fetch MNIST with torchvision when not found")
    validation_fraction: float = Field(
        VALIDATION_FRACTION, ge=0.0, lt=1.0,
        description="share of the training images (the last ones) held out as a validation set "
        "that is never trained on; 1/6 = the last 10,000 of 60,000; 0 = no validation split",
    )
    train_size: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="train on the first N training images left after the validation split (a "
        "fixed subset, to overfit within a small budget); None = all of them",
    )


def validation_size(n_train: int, fraction: float) -> int:
    """How many of the last training images are held out (rounded; 10,000 of 60,000 at 1/6)."""
    return int(round(n_train * fraction))


class MnistMlpSpec(TaskSpec):
    name = "mnist_mlp"
    summary = "MLP (default 784-256-10, ReLU) on MNIST; validation and test loss and accuracy"
    Params = MnistMlpParams
    metric_goals = {
        "train_loss": "min", "val_loss": "min", "val_accuracy": "max",
        "test_loss": "min", "test_accuracy": "max",
    }
    primary_metric = "test_accuracy"
    loss_metric = "test_loss"
    implementation = "adamlab.tasks.mnist_mlp:MnistMlpTask"

    @classmethod
    def epoch_steps(cls, params: MnistMlpParams, batch_size: int) -> int | None:
        """Batches per epoch from the training labels' IDX header, without loading the data
        (None when the files are not found or the sizes do not fit: building the task says why)."""
        root = Path(params.data_dir) if params.data_dir is not None else default_data_dir()
        files = find_mnist_files(root)
        n_total = idx_count(files["train_labels"]) if files is not None else None
        if not n_total:
            return None
        n_split = n_total - validation_size(n_total, params.validation_fraction)
        n_train = params.train_size if params.train_size is not None else n_split
        if n_train > n_split or not 1 <= batch_size <= n_train:
            return None
        return n_train // batch_size

    @classmethod
    def check_data(cls, params: MnistMlpParams) -> None:
        """The four IDX files are found (or fetched, with download: true)."""
        root = Path(params.data_dir) if params.data_dir is not None else default_data_dir()
        locate_mnist(root, download=params.download)

    @classmethod
    def prefetch_data(cls, params: MnistMlpParams) -> threading.Event | None:
        """The four files decompressed in a background thread (tasks/mnist_data.py: read_ahead);
        nothing when they are not found (building the task says why)."""
        files = find_mnist_files(Path(params.data_dir) if params.data_dir is not None else default_data_dir())
        return read_ahead(files.values()) if files is not None else None

    @classmethod
    def discard_prefetched_data(cls) -> None:
        discard_read_ahead()

    @classmethod
    def data_identity(cls, params: MnistMlpParams) -> str | None:
        """The four files' sha256 as they are on disk (tasks/mnist_data.py: data_fingerprint)."""
        return data_fingerprint(Path(params.data_dir) if params.data_dir is not None else default_data_dir())

    @classmethod
    def memory_bytes(cls, params: MnistMlpParams, batch_size: int) -> int:
        # MNIST held on the device (70,000 x 785 float32, twice while loading), weights with
        # their gradients and optimizer state, and a batch's activations forward and backward
        sizes = [28 * 28, *params.widths, MNIST_CLASSES]
        weights = sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))
        data = 2 * 70_000 * (28 * 28 + 1) * 4
        return data + 8 * 4 * weights + 4 * 4 * min(batch_size, 60_000) * sum(sizes)

    @classmethod
    def member_bytes(cls, params: MnistMlpParams, batch_size: int) -> int:
        sizes = [28 * 28, *params.widths, MNIST_CLASSES]
        weights = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False))
        # float32 weights, gradients, three optimizer states and a copy at log steps; the
        # activations of a batch kept for backward
        return 4 * (6 * weights + 3 * batch_size * sum(sizes[1:]))
