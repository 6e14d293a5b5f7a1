"""Read a PyTorch *legacy* (pre-zip) checkpoint into numpy without PyTorch.

Why this exists: the classifier weights ship as a ``.pth`` file and PyTorch
must not be a dependency.  ``torch.load`` is also unsafe by nature: a pickle can
name any callable.  This reader only lets three kinds of global through
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
``torch.*Storage`` type tags); anything else (``os.system``, ``builtins.eval``,
...) raises :class:`UnsafePickleError` before it is ever resolved.

The legacy layout is five consecutive pickles followed by raw bytes:

1. a magic number, 2. the protocol version (1001), 3. ``sys_info``,
4. the object itself, whose storages are *persistent ids*
   ``("storage", StorageType, key, location, numel, view_metadata)``,
5. the list of storage keys, then for each key: an int64 element count and
   that many little-endian elements.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch.<Name>Storage -> numpy dtype; bfloat16 has no numpy equivalent.
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The checkpoint referenced a global outside the allow-list."""


class CheckpointFormatError(ValueError):
    """The file is not a well-formed legacy PyTorch checkpoint."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any
) -> _TensorRef:
    """Stand-in for torch's rebuild function: records the view, validates it."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointFormatError("tensor does not point at a storage")
    shape, strides = tuple(size), tuple(stride)
    ints = (offset, *shape, *strides)
    if any(type(v) is not int or v < 0 for v in ints) or len(shape) != len(strides):
        raise CheckpointFormatError(f"bad tensor geometry {shape} / {strides} @ {offset}")
    if all(shape):  # the last element touched must lie inside the storage
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= storage.numel:
            raise CheckpointFormatError("tensor view runs past the end of its storage")
    return _TensorRef(storage, offset, shape, strides)


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only tensors, storages and OrderedDict; refuses everything else."""

    def __init__(self, file: BinaryIO, *, allow_tensors: bool = True) -> None:
        super().__init__(file)
        self._allow_tensors = allow_tensors
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if self._allow_tensors:
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return _rebuild_tensor_v2
            if module == "torch" and name in STORAGE_DTYPES:
                return _StorageType(STORAGE_DTYPES[name])
        raise UnsafePickleError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not self._allow_tensors:
            raise UnsafePickleError("persistent ids are not allowed here")
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointFormatError(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or view is not None:
            raise CheckpointFormatError("unsupported storage (typed views are not handled)")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointFormatError("bad storage key or size")
        known = self.storages.get(key)
        ref = _StorageRef(key, storage_type.dtype, numel)
        if known is not None and known != ref:
            raise CheckpointFormatError(f"storage {key} declared twice differently")
        self.storages[key] = ref
        return ref


def restricted_loads(data: bytes) -> Any:
    """Unpickle bytes with the allow-list (tensor records stay unresolved refs)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _plain_load(file: BinaryIO) -> Any:
    return RestrictedUnpickler(file, allow_tensors=False).load()


def _read_storages(file: BinaryIO, storages: dict[str, _StorageRef]) -> dict[str, np.ndarray]:
    keys = _plain_load(file)
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise CheckpointFormatError("storage key list does not match the tensors")
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        ref = storages[key]
        header = file.read(8)
        if len(header) != 8:
            raise CheckpointFormatError(f"truncated before storage {key}")
        (numel,) = struct.unpack("<q", header)
        if numel != ref.numel:
            raise CheckpointFormatError(f"storage {key}: {numel} elements, expected {ref.numel}")
        raw = file.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise CheckpointFormatError(f"truncated inside storage {key}")
        arrays[key] = np.frombuffer(raw, dtype=ref.dtype)
    return arrays


def _materialise(ref: _TensorRef, arrays: dict[str, np.ndarray]) -> np.ndarray:
    base = arrays[ref.storage.key]
    item = base.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[ref.offset :], shape=ref.shape, strides=tuple(s * item for s in ref.strides)
    )
    return np.array(view, dtype=base.dtype.newbyteorder("="), order="C", copy=True)


def load_state_dict(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """Load a legacy ``state_dict`` file as ``name -> numpy array`` (copies)."""
    with open(path, "rb") as file:
        try:
            magic = _plain_load(file)
            version = _plain_load(file)
            sys_info = _plain_load(file)
        except (EOFError, pickle.UnpicklingError) as exc:
            if isinstance(exc, UnsafePickleError):
                raise
            raise CheckpointFormatError(f"{path}: not a legacy torch checkpoint") from exc
        if magic != MAGIC_NUMBER or version != PROTOCOL_VERSION:
            raise CheckpointFormatError(f"{path}: not a legacy torch checkpoint (zip format?)")
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise CheckpointFormatError(f"{path}: only little-endian checkpoints are supported")
        unpickler = RestrictedUnpickler(file)
        try:
            state = unpickler.load()
        except (UnsafePickleError, CheckpointFormatError):
            raise
        except Exception as exc:  # noqa: BLE001 - malformed opcodes raise assorted errors
            raise CheckpointFormatError(f"{path}: malformed state dict: {exc}") from exc
        if not isinstance(state, dict):
            raise CheckpointFormatError(f"{path}: top-level object is not a state dict")
        arrays = _read_storages(file, unpickler.storages)
    result: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise CheckpointFormatError(f"{path}: entry {name!r} is not a tensor")
        result[name] = _materialise(value, arrays)
    return result
