"""Read PyTorch checkpoints (``torch.save`` files) into numpy arrays, without torch.

A checkpoint is a pickle, and unpickling runs whatever callables the file names. This reader therefore
allows only the handful of globals a plain tensor checkpoint needs (``collections.OrderedDict``, torch's
tensor/parameter rebuild functions and the ``torch.*Storage`` type names), mapped to numpy builders;
any other global makes it raise :class:`UnsafeCheckpointError` before anything runs.

Both on-disk layouts are read:

* the legacy stream (``_use_new_zipfile_serialization=False``, and every file older than torch 1.6, such
  as resemblyzer's ``pretrained.pt``): a magic number, a protocol version and a sys-info dict, each
  pickled; then the object pickle, whose storages are persistent ids; then a pickled list of storage keys;
  then, per key, an int64 element count followed by that storage's raw little-endian bytes;
* the zip archive (torch >= 1.6 default): ``<name>/data.pkl`` plus one raw file ``<name>/data/<key>``
  per storage.

Tensors come back as numpy arrays (views into their storage's buffer, so tensors that share a storage
share memory, as in torch); everything else comes back as the plain Python objects the pickle holds.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

__all__ = ["UnsafeCheckpointError", "load", "loads"]

# torch.serialization's constants for the legacy stream.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
    "ComplexFloatStorage": np.dtype("<c8"),
    "ComplexDoubleStorage": np.dtype("<c16"),
    # Untyped storages count bytes; tensors are never saved on one, but a bare storage may be.
    "UntypedStorage": np.dtype("u1"),
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The file is not a plain tensor checkpoint (it names a global we refuse to run) or is malformed."""


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: all the reader needs from them is the dtype."""

    def __init__(self, name: str, dtype: np.dtype[Any]) -> None:
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type torch.{self.name}>"


class _Storage:
    """A storage's flat numpy buffer. Legacy files fill it only after the object pickle is read."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or not all(isinstance(v, int) for v in value):
        raise UnsafeCheckpointError(f"tensor {what} must be a tuple of ints, got {value!r}")
    return tuple(value)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> np.ndarray:
    """numpy stand-in for ``torch._utils._rebuild_tensor`` and ``_rebuild_tensor_v2``."""
    if not isinstance(storage, _Storage) or not isinstance(storage_offset, int):
        raise UnsafeCheckpointError("malformed tensor record")
    shape, strides = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    buffer = storage.array
    if len(shape) != len(strides) or storage_offset < 0 or min(strides, default=0) < 0:
        raise UnsafeCheckpointError(f"malformed tensor geometry {shape} / {strides} @ {storage_offset}")
    if 0 in shape:
        return np.empty(shape, dtype=buffer.dtype)
    # np.ndarray checks that the view stays inside the buffer, so a hostile size cannot read past it.
    try:
        return np.ndarray(
            shape,
            dtype=buffer.dtype,
            buffer=buffer,
            offset=storage_offset * buffer.itemsize,
            strides=tuple(s * buffer.itemsize for s in strides),
        )
    except (TypeError, ValueError) as exc:
        raise UnsafeCheckpointError(f"tensor does not fit its storage: {exc}") from exc


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    """``nn.Parameter`` is only a tensor with a ``requires_grad`` flag; the flag means nothing here."""
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; storages come from ``storage_loader``."""

    def __init__(self, file: io.BytesIO, storage_loader: Any = None) -> None:
        super().__init__(file)
        self._storage_loader = storage_loader

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "torch" and name.endswith("Storage"):
            raise UnsafeCheckpointError(f"unsupported tensor type torch.{name} (no numpy equivalent)")
        raise UnsafeCheckpointError(f"refusing to load global {module}.{name}: not a plain tensor checkpoint")

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_loader is None:
            raise UnsafeCheckpointError("unexpected persistent id outside the object pickle")
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeCheckpointError(f"unsupported persistent id {pid!r:.80}")
        return self._storage_loader(pid[1:])


def _storage_record(record: tuple[Any, ...], n_fields: int) -> tuple[Any, ...]:
    if len(record) != n_fields or not isinstance(record[0], _StorageType):
        raise UnsafeCheckpointError(f"malformed storage record {record!r:.80}")
    if not isinstance(record[3], int) or record[3] < 0:
        raise UnsafeCheckpointError(f"malformed storage size {record[3]!r}")
    return record


def _load_legacy(stream: io.BytesIO) -> Any:
    header = _RestrictedUnpickler(stream)
    if header.load() != LEGACY_MAGIC_NUMBER:
        raise UnsafeCheckpointError("not a torch checkpoint (bad magic number)")
    version = _RestrictedUnpickler(stream).load()
    if version != LEGACY_PROTOCOL_VERSION:
        raise UnsafeCheckpointError(f"unsupported legacy protocol version {version!r}")
    sys_info = _RestrictedUnpickler(stream).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise UnsafeCheckpointError("only little-endian legacy checkpoints are supported")

    roots: dict[str, _Storage] = {}

    def storage_loader(record: tuple[Any, ...]) -> _Storage:
        storage_type, key, _location, numel, view = _storage_record(record, 5)
        if key not in roots:
            roots[key] = _Storage(np.zeros(numel, dtype=storage_type.dtype))
        root = roots[key]
        if view is None:
            return root
        # Pre-1.0 files could save a slice of a storage: (view_key, offset, size) in elements.
        _view_key, offset, size = view
        if not (isinstance(offset, int) and isinstance(size, int) and 0 <= offset <= offset + size):
            raise UnsafeCheckpointError(f"malformed storage view {view!r}")
        if offset + size > root.array.size:
            raise UnsafeCheckpointError("storage view past the end of its storage")
        return _Storage(root.array[offset : offset + size])

    result = _RestrictedUnpickler(stream, storage_loader).load()
    keys = _RestrictedUnpickler(stream).load()
    if not isinstance(keys, list):
        raise UnsafeCheckpointError("malformed storage key list")
    for key in keys:
        if key not in roots:
            raise UnsafeCheckpointError(f"storage {key!r} has data but no tensor uses it")
        target = roots[key].array
        (numel,) = struct.unpack("<q", stream.read(8))
        nbytes = numel * target.itemsize
        raw = stream.read(nbytes)
        if numel != target.size or len(raw) != nbytes:
            raise UnsafeCheckpointError(f"storage {key!r}: truncated or wrong size")
        target[:] = np.frombuffer(raw, dtype=target.dtype)
    return result


def _load_zip(archive: zipfile.ZipFile) -> Any:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise UnsafeCheckpointError("zip checkpoint without exactly one <name>/data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    big_endian = False
    if f"{prefix}byteorder" in archive.namelist():
        big_endian = archive.read(f"{prefix}byteorder").strip() == b"big"

    storages: dict[str, _Storage] = {}

    def storage_loader(record: tuple[Any, ...]) -> _Storage:
        storage_type, key, _location, numel = _storage_record(record, 4)
        if key not in storages:
            dtype = storage_type.dtype.newbyteorder(">" if big_endian else "<")
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except KeyError as exc:
                raise UnsafeCheckpointError(f"storage {key!r} is missing from the archive") from exc
            if len(raw) != numel * dtype.itemsize:
                raise UnsafeCheckpointError(f"storage {key!r}: {len(raw)} bytes for {numel} elements")
            storages[key] = _Storage(np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")))
        return storages[key]

    return _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storage_loader).load()


def loads(data: bytes) -> Any:
    """Rebuild a ``torch.save`` payload (either layout) with tensors as numpy arrays."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _load_zip(archive)
        except UnsafeCheckpointError:
            raise
        except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise UnsafeCheckpointError(f"malformed zip checkpoint: {exc}") from exc
    try:
        return _load_legacy(io.BytesIO(data))
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, struct.error) as exc:
        raise UnsafeCheckpointError(f"malformed legacy checkpoint: {exc}") from exc


def load(path: str | os.PathLike[str]) -> Any:
    """Read a ``.pt`` file; see :func:`loads`. The whole file is read at once (checkpoints are small)."""
    with open(path, "rb") as f:
        return loads(f.read())
