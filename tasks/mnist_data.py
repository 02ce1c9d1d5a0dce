"""MNIST as four IDX files, loaded once per process into normalised tensors on the device.

Where the files are looked for, for a data directory ROOT (the task's ``data_dir``; by default
``$ADAMLAB_DATA``, else ``data`` in the current directory), in this order:

1. ROOT itself (a folder holding the four files, like ``../shared/data/mnist``),
2. ROOT/mnist,
3. ROOT/MNIST/raw (torchvision's layout, where ``torchvision.datasets.MNIST`` downloads to).

Each file may be raw (``train-images-idx3-ubyte``) or gzipped (``train-images-idx3-ubyte.gz``);
raw wins when both are there. When no folder has all four and ``download`` is on,
``torchvision.datasets.MNIST`` fetches them (with its mirrors and md5 checks) and they are moved
into ROOT/MNIST/raw. The files are parsed here rather than by torchvision, whose reader takes
raw files only and checks them with asserts: a missing, truncated or corrupt file (bad gzip, bad
magic number, size not matching the header, images and labels of different counts, labels
outside 0..9) is an AdamlabError naming the file; files not found at all, one naming the folders
searched.

A sweep that runs its trials in its own process reads and decompresses the files ahead, in a
thread, while it imports torch (`read_ahead`, through the task's `prefetch_data`); the load
takes what was read (~0.15 s of the 0.28 s a load of real MNIST takes, off the critical path).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from adamlab.errors import AdamlabError

if TYPE_CHECKING:  # torch is imported where tensors are made: finding files and counting need none
    # lazy: the IDX files are read and checked without torch; only the task's tensors need it
    import torch

#: role -> file name (uncompressed), as published and as torchvision names them
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: IDX magic numbers: 0x08 = unsigned byte data, then the number of dimensions
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"

#: the usual MNIST pixel mean and standard deviation (of x/255 over the training set)
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081

NUM_CLASSES = 10


def default_data_dir() -> Path:
    """$ADAMLAB_DATA when set, else ``data`` (relative to the current directory)."""
    return Path(os.environ.get("ADAMLAB_DATA") or "data")


def search_dirs(root: Path) -> list[Path]:
    """The folders searched for the four files, in order."""
    return [root, root / "mnist", root / "MNIST" / "raw"]


def _find_in(folder: Path) -> dict[str, Path]:
    """role -> file for each of the four files present in ``folder`` (raw preferred over .gz)."""
    found = {}
    for role, name in MNIST_FILES.items():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
    return found


def find_mnist_files(root: Path) -> dict[str, Path] | None:
    """The four files from the first folder of ``search_dirs(root)`` that has them all."""
    for folder in search_dirs(root):
        found = _find_in(folder)
        if len(found) == len(MNIST_FILES):
            return found
    return None


def _not_found_message(root: Path, reason: str) -> str:
    names = ", ".join(f"{name}[.gz]" for name in MNIST_FILES.values())
    folders = search_dirs(root)
    partial = [(folder, _find_in(folder)) for folder in folders]
    partial = [(folder, found) for folder, found in partial if found]
    detail = ""
    if partial:
        folder, found = max(partial, key=lambda item: len(item[1]))
        missing = [MNIST_FILES[role] for role in MNIST_FILES if role not in found]
        detail = f" ({folder} lacks {', '.join(missing)})"
    return (
        f"MNIST not found: looked for {names} in {', '.join(str(f) for f in folders)}{detail}; "
        f"{reason}. Fix: export ADAMLAB_DATA=<a folder holding the four IDX files, gz or raw> "
        f"(or set the task's data_dir: to it, or put them in one of those folders)"
    )


def download_mnist(root: Path) -> None:
    """Fetch the four files into ROOT/MNIST/raw with torchvision (needs internet).

    torchvision downloads into a private temporary folder first; each finished file is then
    renamed into place, so trials running in parallel never read a half-written file (at worst
    two of them download the same files).
    """
    # lazy: torchvision (and torch) only when the files must be downloaded
    from torchvision.datasets import MNIST

    target = root / "MNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".mnist-download-") as scratch:
        downloaded = MNIST(scratch, train=True, download=True)
        for name in MNIST_FILES.values():
            os.replace(Path(downloaded.raw_folder) / name, target / name)


def locate_mnist(root: Path, *, download: bool) -> dict[str, Path]:
    """role -> path of the four files under ``root``, downloading them if allowed and needed."""
    found = find_mnist_files(root)
    if found is not None:
        return found
    if not download:
        raise AdamlabError(_not_found_message(root, "download is off (download: false)"))
    try:
        download_mnist(root)
    except (RuntimeError, OSError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise AdamlabError(
            _not_found_message(root, f"downloading into {root / 'MNIST' / 'raw'} failed: {reason}")
        ) from None
    found = find_mnist_files(root)
    if found is None:
        raise AdamlabError(_not_found_message(root, "the download finished but left no files"))
    return found


class _Reading:
    """One file's contents, decompressed, once a read-ahead thread has them (None: it could not
    read them)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._data: bytes | None = None

    def set(self, data: bytes | None) -> None:
        self._data = data
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> bytes | None:
        self._done.wait(timeout)
        return self._data


#: files read ahead (`read_ahead`) by identity (`_file_identity`), until the first read of the
#: file takes them
_read_ahead: dict[tuple[str, int, int], _Reading] = {}
_read_ahead_lock = threading.Lock()


def read_ahead(paths: Iterable[Path]) -> threading.Event | None:
    """Read and decompress `paths` in a background thread, for the load that follows to take:
    zlib decompresses without holding the GIL, so on a second core the work overlaps whatever
    this process does meanwhile (a sweep: importing torch). A file that could not be read ahead
    is read again when loaded, which then says what is wrong with it. Returns an event set when
    the thread is done (None: nothing to read)."""
    pending = []
    with _read_ahead_lock:
        for path in paths:
            try:
                identity = _file_identity(path)
            except OSError:
                continue
            if identity not in _read_ahead:
                _read_ahead[identity] = reading = _Reading()
                pending.append((path, reading))
    if not pending:
        return None
    done = threading.Event()
    threading.Thread(target=_read_into, args=(pending, done), name="adamlab-mnist-read-ahead",
                     daemon=True).start()
    return done


def _read_into(pending: list[tuple[Path, _Reading]], done: threading.Event) -> None:
    try:
        for path, reading in pending:
            try:
                reading.set(_read_now(path))
            except Exception:  # noqa: BLE001 - whatever it was, the load reads again and says
                reading.set(None)
    finally:
        for _, reading in pending:  # a load never waits on a reading that will not come
            if not reading.done():
                reading.set(None)
        done.set()


def discard_read_ahead() -> None:
    """Drop what was read ahead and not taken (a thread still reading finishes into nothing)."""
    with _read_ahead_lock:
        _read_ahead.clear()


def _read_bytes(path: Path) -> bytes:
    """The file's contents, decompressed: what `read_ahead` read of this very file (same path,
    size and modification time) if it did, else read now."""
    with _read_ahead_lock:
        try:
            ahead = _read_ahead.pop(_file_identity(path), None)
        except OSError:
            ahead = None
    if ahead is not None:
        data = ahead.result()
        if data is not None:
            return data
    return _read_now(path)


def _read_now(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AdamlabError(f"{path}: cannot read: {error.strerror or error}") from None
    if path.suffix != ".gz":
        return data
    if not data.startswith(GZIP_MAGIC):
        raise AdamlabError(f"{path}: not a gzip file (a .gz name but no gzip header)")
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise AdamlabError(f"{path}: corrupt gzip data: {error}") from None


def idx_count(path: Path) -> int | None:
    """The first dimension an IDX file's header declares (raw or gzipped), read without the rest
    of the file; None when it cannot be read (loading the file then says why)."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            header = handle.read(8)
    except (OSError, EOFError, zlib.error):
        return None
    if len(header) < 8:
        return None
    return struct.unpack(">I", header[4:8])[0]


def read_idx(path: Path, expected_magic: int) -> torch.Tensor:
    """An unsigned-byte IDX file (raw or gzipped) as a uint8 tensor shaped as its header says."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise AdamlabError(f"{path}: too short for an IDX file ({len(data)} bytes)")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        hint = ""
        if data.startswith(GZIP_MAGIC):
            hint = " (the file is gzip-compressed: give it a .gz name)"
        raise AdamlabError(
            f"{path}: bad magic number 0x{magic:08x}, expected 0x{expected_magic:08x}{hint}"
        )
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise AdamlabError(f"{path}: truncated header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected_size = header_size + math.prod(shape)
    if len(data) != expected_size:
        raise AdamlabError(
            f"{path}: wrong size: the header promises shape {'x'.join(map(str, shape))} "
            f"({expected_size} bytes in all), the file has {len(data)} bytes"
        )
    # lazy: the IDX files are read and checked without torch; only the task's tensors need it
    import torch

    values = torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header_size)
    return values.view(*shape)


@dataclass(frozen=True)
class MnistTensors:
    """The whole dataset on one device: images flattened and normalised, labels int64."""
    train_images: torch.Tensor  # (60000, 784) float32
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 784) float32
    test_labels: torch.Tensor  # (10000,) int64

    @property
    def input_dim(self) -> int:
        return self.train_images.shape[1]


def _split(files: dict[str, Path], split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images_path, labels_path = files[f"{split}_images"], files[f"{split}_labels"]
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise AdamlabError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels"
        )
    if images.shape[0] == 0:
        raise AdamlabError(f"{images_path}: holds no images")
    if int(labels.max()) >= NUM_CLASSES:
        raise AdamlabError(
            f"{labels_path}: label {int(labels.max())} outside 0..{NUM_CLASSES - 1}"
        )
    # lazy: the IDX files are read and checked without torch; only the task's tensors need it
    import torch

    # convert on the device: moving uint8 is 4x less traffic than float32
    pixels = images.reshape(images.shape[0], -1).to(device).to(torch.float32)
    pixels = pixels.div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD)
    return pixels, labels.to(device=device, dtype=torch.int64)


def _file_identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def data_fingerprint(root: Path) -> str | None:
    """16 hex digits of the sha256 of the four files as they are on disk, or None when ``root``
    holds no MNIST. Paid once per process and set of files (cached by path, size and
    modification time); the bytes on disk, not decompressed, to stay cheap (11 MB of .gz), so
    a gunzipped copy of the same data counts as other data (its records are re-run, never
    wrongly reused)."""
    files = find_mnist_files(Path(root))
    if files is None:
        return None
    return _fingerprint(tuple((role, _file_identity(files[role])) for role in MNIST_FILES))


@functools.lru_cache(maxsize=4)
def _fingerprint(identity: tuple) -> str:
    digest = hashlib.sha256()
    for role, (resolved, _, _) in identity:
        try:
            data = Path(resolved).read_bytes()
        except OSError as error:
            raise AdamlabError(f"{resolved}: cannot read: {error.strerror or error}") from None
        digest.update(f"{role}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _load(identity: tuple, device: torch.device) -> MnistTensors:
    files = {role: Path(resolved) for role, (resolved, _, _) in identity}
    train_images, train_labels = _split(files, "train", device)
    test_images, test_labels = _split(files, "test", device)
    if train_images.shape[1] != test_images.shape[1]:
        raise AdamlabError(
            f"{files['train_images']} and {files['test_images']} hold images of different sizes"
        )
    return MnistTensors(train_images, train_labels, test_images, test_labels)


def load_mnist(root: Path, device: torch.device, *, download: bool) -> MnistTensors:
    """MNIST from ``root`` (see the module docstring) as tensors on ``device``.

    Cached per process by the files' resolved paths, sizes and modification times and the
    device, so the many trials of a sweep in one process read and convert the files once.
    The tensors are shared between callers: treat them as read-only.
    """
    files = locate_mnist(Path(root), download=download)
    identity = tuple((role, _file_identity(files[role])) for role in MNIST_FILES)
    # lazy: the IDX files are read and checked without torch; only the task's tensors need it
    import torch

    try:
        return _load(identity, torch.device(device))
    finally:
        # what was read ahead of files loaded before (a cached load) is never taken: dropped
        with _read_ahead_lock:
            for _, file_identity in identity:
                _read_ahead.pop(file_identity, None)
