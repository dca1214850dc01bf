"""voiceprints.torchfile reads torch.save files without torch, and refuses anything but plain tensors."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from voiceprints import torchfile, weights

DATA = Path(__file__).parent / "data" / "ge2e_reference.npz"


def torch_written(layout: str) -> bytes:
    """A small checkpoint written by torch 2.13 itself (see data/README.md), in either layout."""
    with np.load(DATA) as data:
        return data[f"torch_{layout}"].tobytes()


class Evil:
    """Unpickling this would create a folder, proving that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.target),)


def legacy_stream(payload: bytes) -> bytes:
    header = pickle.dumps(torchfile.LEGACY_MAGIC_NUMBER, protocol=2)
    header += pickle.dumps(torchfile.LEGACY_PROTOCOL_VERSION, protocol=2)
    header += pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, protocol=2)
    return header + payload + pickle.dumps([], protocol=2)


def zip_archive(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
    return buffer.getvalue()


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_it_reads_tensors_in_both_layouts(layout):
    checkpoint = torchfile.loads(torch_written(layout))

    base = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    assert checkpoint["float"].dtype == np.float32
    np.testing.assert_array_equal(checkpoint["float"], base)
    np.testing.assert_array_equal(checkpoint["transposed"], base.T)
    np.testing.assert_array_equal(checkpoint["offset"], base[1:, 1:3])
    np.testing.assert_array_equal(checkpoint["long"], np.array([1, -2, 3], np.int64))
    np.testing.assert_array_equal(checkpoint["half"], np.array([0.5, -1.25], np.float16))
    np.testing.assert_array_equal(checkpoint["bool"], [True, False])
    assert checkpoint["scalar"].shape == () and checkpoint["scalar"].dtype == np.float64
    assert float(checkpoint["scalar"]) == 2.5
    np.testing.assert_array_equal(checkpoint["param"], np.ones((2, 2), np.float32))
    nested = checkpoint["nested"]
    assert isinstance(nested, OrderedDict) and nested["step"] == 7
    assert nested["items"][0].shape == (0,) and nested["items"][1] == (1, "two", 3.0)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_views_share_their_storage_as_in_torch(layout):
    checkpoint = torchfile.loads(torch_written(layout))

    assert np.shares_memory(checkpoint["float"], checkpoint["transposed"])
    assert np.shares_memory(checkpoint["float"], checkpoint["offset"])


@pytest.mark.parametrize("wrap", [legacy_stream, zip_archive], ids=["legacy", "zip"])
def test_it_refuses_to_run_other_globals(wrap, tmp_path):
    target = tmp_path / "pwned"
    payload = pickle.dumps(Evil(target), protocol=2)

    with pytest.raises(torchfile.UnsafeCheckpointError, match="refusing to load global"):
        torchfile.loads(wrap(payload))
    assert not target.exists()


def test_it_names_tensor_types_numpy_lacks():
    payload = b"\x80\x02ctorch\nBFloat16Storage\nq\x00."

    with pytest.raises(torchfile.UnsafeCheckpointError, match="BFloat16Storage"):
        torchfile.loads(legacy_stream(payload))


@pytest.mark.parametrize("layout", ["zip", "legacy"])
@pytest.mark.parametrize("cut", [10, 200, -3])
def test_it_rejects_truncated_files(layout, cut):
    data = torch_written(layout)

    with pytest.raises(torchfile.UnsafeCheckpointError):
        torchfile.loads(data[:cut])


def test_it_rejects_a_storage_that_does_not_fit_its_tensor():
    data = torch_written("zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    storage = next(name for name in entries if "/data/" in name and len(entries[name]) == 48)
    entries[storage] = entries[storage][:-4]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)

    with pytest.raises(torchfile.UnsafeCheckpointError, match="bytes for"):
        torchfile.loads(buffer.getvalue())


def test_it_reads_resemblyzers_checkpoint():
    path = weights.DEFAULT_MODEL_PATH
    if not path.is_file():
        pytest.skip(f"{path} is absent: run scripts/fetch-model")

    checkpoint = torchfile.load(path)

    state = checkpoint["model_state"]
    assert checkpoint["step"] == 1564501
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["lstm.weight_hh_l2"].shape == (1024, 256)
    assert state["linear.weight"].shape == (256, 256)
    assert all(value.dtype == np.float32 for value in state.values())
    assert all(np.isfinite(value).all() for value in state.values())
