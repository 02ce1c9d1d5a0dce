"""The MNIST loader: layouts, gz and raw files, clear errors for missing/corrupt files, caching."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import NO_REAL_MNIST, REAL_MNIST, real_mnist_missing
from task_testing import idx_bytes, tiny_mnist_arrays, write_mnist

from adamlab.errors import AdamlabError
from adamlab.tasks import mnist_data
from adamlab.tasks.mnist_data import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MNIST_FILES,
    PIXEL_MEAN,
    PIXEL_STD,
    default_data_dir,
    load_mnist,
    read_idx,
)

CPU = torch.device("cpu")


@pytest.fixture
def arrays():
    return tiny_mnist_arrays(n_train=40, n_test=20)


def expected_pixels(images: np.ndarray) -> torch.Tensor:
    flat = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32))
    return (flat / 255.0 - PIXEL_MEAN) / PIXEL_STD


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("subfolder", ["", "mnist", "MNIST/raw"])
def test_reads_every_layout_raw_or_gzipped(tmp_path, arrays, gz, subfolder):
    write_mnist(tmp_path / subfolder, arrays, gz=gz)
    data = load_mnist(tmp_path, CPU, download=False)
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        assert images.dtype == torch.float32 and images.shape == (len(arrays[f"{split}_labels"]), 784)
        torch.testing.assert_close(images, expected_pixels(arrays[f"{split}_images"]))
        assert labels.dtype == torch.int64
        assert labels.tolist() == arrays[f"{split}_labels"].tolist()
    assert data.input_dim == 784


def test_raw_file_wins_over_gz_in_the_same_folder(tmp_path, arrays):
    write_mnist(tmp_path, arrays, gz=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    data = load_mnist(tmp_path, CPU, download=False)
    assert data.train_images.shape[0] == 40


def test_first_complete_folder_wins(tmp_path, arrays):
    write_mnist(tmp_path / "MNIST" / "raw", arrays, gz=True)
    # an incomplete set at the top is skipped, not half-used
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"junk")
    data = load_mnist(tmp_path, CPU, download=False)
    assert data.train_images.shape[0] == 40


def test_missing_files_name_what_and_where(tmp_path, arrays):
    paths = write_mnist(tmp_path, arrays, gz=True)
    paths["test_labels"].unlink()
    with pytest.raises(AdamlabError) as error:
        load_mnist(tmp_path, CPU, download=False)
    message = str(error.value)
    assert "MNIST not found" in message
    assert f"{tmp_path} lacks t10k-labels-idx1-ubyte" in message
    for folder in (tmp_path, tmp_path / "mnist", tmp_path / "MNIST" / "raw"):
        assert str(folder) in message
    assert "download is off" in message
    assert "data_dir" in message and "ADAMLAB_DATA" in message


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def unreachable(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror, got: no route")

    monkeypatch.setattr(MNIST, "download", unreachable)
    with pytest.raises(AdamlabError) as error:
        load_mnist(tmp_path / "nowhere", CPU, download=True)
    message = str(error.value)
    assert "\n" not in message
    assert f"downloading into {tmp_path / 'nowhere' / 'MNIST' / 'raw'} failed" in message
    assert "no route" in message
    assert not list((tmp_path / "nowhere").glob(".mnist-download-*"))


def test_download_goes_through_torchvision_into_its_layout(tmp_path, monkeypatch, arrays):
    """torchvision's MNIST(download=True) fills <root>/MNIST/raw; the loader then finds it there."""
    from torchvision.datasets import MNIST

    def offline_download(self):
        # stands in for the network fetch only: torchvision itself then checks and parses the files
        write_mnist(Path(self.raw_folder), arrays, gz=False)

    monkeypatch.setattr(MNIST, "download", offline_download)
    data = load_mnist(tmp_path, CPU, download=True)
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == sorted(MNIST_FILES.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MNIST"]  # no scratch folder left
    assert data.train_labels.tolist() == arrays["train_labels"].tolist()


def write_one(tmp_path, arrays, role: str, content: bytes, *, name_suffix: str = "") -> Path:
    write_mnist(tmp_path, arrays, gz=False)
    path = tmp_path / (MNIST_FILES[role] + name_suffix)
    (tmp_path / MNIST_FILES[role]).unlink()
    path.write_bytes(content)
    return path


def test_bad_gzip_names_the_file(tmp_path, arrays):
    path = write_one(tmp_path, arrays, "train_images", b"\x1f\x8b\x08\x00garbage", name_suffix=".gz")
    with pytest.raises(AdamlabError, match="corrupt gzip data") as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(path) in str(error.value)


def test_truncated_gzip_names_the_file(tmp_path, arrays):
    full = gzip.compress(idx_bytes(arrays["train_images"], IMAGES_MAGIC))
    path = write_one(tmp_path, arrays, "train_images", full[: len(full) // 2], name_suffix=".gz")
    with pytest.raises(AdamlabError, match="corrupt gzip data") as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(path) in str(error.value)


def test_gz_name_without_gzip_data(tmp_path, arrays):
    raw = idx_bytes(arrays["test_labels"], LABELS_MAGIC)
    path = write_one(tmp_path, arrays, "test_labels", raw, name_suffix=".gz")
    with pytest.raises(AdamlabError, match="not a gzip file") as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(path) in str(error.value)


def test_bad_magic_names_the_file_and_both_numbers(tmp_path, arrays):
    path = write_one(
        tmp_path, arrays, "train_labels", idx_bytes(arrays["train_labels"], IMAGES_MAGIC)
    )
    with pytest.raises(AdamlabError) as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(error.value) == (
        f"{path}: bad magic number 0x00000803, expected 0x00000801"
    )


def test_gzipped_data_under_a_raw_name_gets_a_hint(tmp_path, arrays):
    content = gzip.compress(idx_bytes(arrays["train_labels"], LABELS_MAGIC))
    write_one(tmp_path, arrays, "train_labels", content)
    with pytest.raises(AdamlabError, match=r"gzip-compressed: give it a \.gz name"):
        load_mnist(tmp_path, CPU, download=False)


def test_wrong_size_names_the_file(tmp_path, arrays):
    full = idx_bytes(arrays["test_images"], IMAGES_MAGIC)
    path = write_one(tmp_path, arrays, "test_images", full[:-100])
    with pytest.raises(AdamlabError) as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(error.value) == (
        f"{path}: wrong size: the header promises shape 20x28x28 ({len(full)} bytes in all), "
        f"the file has {len(full) - 100} bytes"
    )


def test_image_and_label_counts_must_agree(tmp_path, arrays):
    write_one(
        tmp_path, arrays, "train_labels", idx_bytes(arrays["train_labels"][:-1], LABELS_MAGIC)
    )
    with pytest.raises(AdamlabError, match="has 40 images but .* has 39 labels"):
        load_mnist(tmp_path, CPU, download=False)


def test_labels_must_be_digits(tmp_path, arrays):
    labels = arrays["test_labels"].copy()
    labels[3] = 10
    write_one(tmp_path, arrays, "test_labels", idx_bytes(labels, LABELS_MAGIC))
    with pytest.raises(AdamlabError, match=r"label 10 outside 0\.\.9"):
        load_mnist(tmp_path, CPU, download=False)


def test_read_idx_shapes_and_values(tmp_path):
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(values, IMAGES_MAGIC)))
    assert read_idx(path, IMAGES_MAGIC).tolist() == values.tolist()


def test_loaded_once_per_process_and_reloaded_when_files_change(tmp_path, arrays):
    write_mnist(tmp_path, arrays, gz=True)
    first = load_mnist(tmp_path, CPU, download=False)
    assert load_mnist(tmp_path, CPU, download=False) is first
    smaller = {**arrays, "train_images": arrays["train_images"][:30], "train_labels": arrays["train_labels"][:30]}
    write_mnist(tmp_path, smaller, gz=True)
    reloaded = load_mnist(tmp_path, CPU, download=False)
    assert reloaded is not first and reloaded.train_images.shape[0] == 30


def _files(folder: Path) -> list[Path]:
    return list(mnist_data.find_mnist_files(folder).values())


def test_what_was_read_ahead_is_what_the_load_takes(tmp_path, arrays, monkeypatch):
    write_mnist(tmp_path, arrays, gz=True)
    mnist_data.discard_read_ahead()
    mnist_data.read_ahead(_files(tmp_path))
    ahead = list(mnist_data._read_ahead.values())
    assert len(ahead) == 4 and all(f.result(timeout=30) is not None for f in ahead)

    def no_second_read(path):
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(mnist_data, "_read_now", no_second_read)
    data = load_mnist(tmp_path, CPU, download=False)
    torch.testing.assert_close(data.train_images, expected_pixels(arrays["train_images"]))
    assert data.test_labels.tolist() == arrays["test_labels"].tolist()
    assert not mnist_data._read_ahead  # taken: nothing held once loaded
    mnist_data.read_ahead(_files(tmp_path))
    assert load_mnist(tmp_path, CPU, download=False) is data
    assert not mnist_data._read_ahead  # files loaded before: what was read ahead is dropped


def test_a_corrupt_file_read_ahead_is_named_by_the_load(tmp_path, arrays):
    path = write_one(tmp_path, arrays, "train_images", b"\x1f\x8b\x08\x00garbage", name_suffix=".gz")
    mnist_data.read_ahead(_files(tmp_path))
    with pytest.raises(AdamlabError, match="corrupt gzip data") as error:
        load_mnist(tmp_path, CPU, download=False)
    assert str(path) in str(error.value)
    mnist_data.discard_read_ahead()


def test_a_file_changed_after_reading_ahead_is_read_again(tmp_path, arrays):
    write_mnist(tmp_path, arrays, gz=True)
    mnist_data.read_ahead(_files(tmp_path))
    for reading in list(mnist_data._read_ahead.values()):
        reading.result(timeout=30)
    smaller = {**arrays, "train_images": arrays["train_images"][:30], "train_labels": arrays["train_labels"][:30]}
    write_mnist(tmp_path, smaller, gz=False)  # raw files now win over the .gz read ahead
    assert load_mnist(tmp_path, CPU, download=False).train_images.shape[0] == 30
    mnist_data.discard_read_ahead()
    assert not mnist_data._read_ahead


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAMLAB_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("ADAMLAB_DATA")
    assert default_data_dir() == Path("data")


@pytest.mark.slow
def test_real_mnist_files():
    if real_mnist_missing():
        pytest.skip(NO_REAL_MNIST)
    # the files themselves, against the md5s their README publishes
    published_md5 = {
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    }
    files = mnist_data.locate_mnist(REAL_MNIST, download=False)
    for role, md5 in published_md5.items():
        assert hashlib.md5(gzip.decompress(files[role].read_bytes())).hexdigest() == md5
    data = load_mnist(REAL_MNIST, CPU, download=False)
    assert data.train_images.shape == (60000, 784) and data.test_images.shape == (10000, 784)
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(data.train_labels, minlength=10).tolist() == train_counts
    assert torch.bincount(data.test_labels, minlength=10).tolist() == test_counts
    # normalised with the training set's own statistics
    assert abs(float(data.train_images.mean())) < 1e-3
    assert abs(float(data.train_images.std()) - 1.0) < 1e-3


def test_a_read_ahead_that_fails_unexpectedly_leaves_the_load_to_read_the_files(tmp_path, arrays,
                                                                               monkeypatch):
    import threading

    write_mnist(tmp_path, arrays, gz=True)
    mnist_data.discard_read_ahead()
    real = mnist_data._read_now
    read_by = []

    def hiccup_in_the_thread(path):
        read_by.append(threading.current_thread().name)
        if threading.current_thread().name == "adamlab-mnist-read-ahead":
            raise RuntimeError("unexpected")
        return real(path)

    monkeypatch.setattr(mnist_data, "_read_now", hiccup_in_the_thread)
    done = mnist_data.read_ahead(_files(tmp_path))
    assert done is not None and done.wait(timeout=30)
    data = load_mnist(tmp_path, CPU, download=False)  # would wait forever on an unset reading
    assert data.test_labels.tolist() == arrays["test_labels"].tolist()
    assert read_by.count("adamlab-mnist-read-ahead") == 4  # each file tried, none delivered
    assert read_by.count(threading.main_thread().name) == 4
