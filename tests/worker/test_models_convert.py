"""The torch-free legacy checkpoint reader and the EfficientNet-Lite0 ONNX conversion."""

from __future__ import annotations

import os
import pickle
import struct
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from picsource_worker.models import convert
from picsource_worker.models.torch_legacy import (
    MAGIC_NUMBER,
    CheckpointFormatError,
    UnsafePickleError,
    load_state_dict,
    restricted_loads,
)


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, np.ascontiguousarray(data, dtype=np.float32).ravel()


class _Tensor:
    """Pickles like a torch tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage: _Storage, offset: int, shape: tuple, strides: tuple) -> None:
        self.args: tuple[object, ...] = (storage, offset, shape, strides, False, OrderedDict())

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


@pytest.fixture
def write_checkpoint(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Writes files in torch's legacy layout, using stand-in ``torch`` modules for pickling."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2 = lambda *a: None  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2.__module__ = "torch._utils"
    utils._rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    def write(path: Path, state: object, storages: list[_Storage]) -> Path:
        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):  # type: ignore[no-untyped-def]
                if isinstance(obj, _Storage):
                    return ("storage", torch.FloatStorage, obj.key, "cpu", obj.data.size, None)
                return None

        with open(path, "wb") as f:
            for header in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True}):
                pickle.dump(header, f, protocol=2)
            Pickler(f, protocol=2).dump(state)
            pickle.dump([s.key for s in storages], f, protocol=2)
            for s in storages:
                f.write(struct.pack("<q", s.data.size) + s.data.tobytes())
        return path

    return write


def test_reader_rebuilds_strided_and_offset_views(tmp_path: Path, write_checkpoint) -> None:
    base = np.arange(24, dtype=np.float32)
    shared = _Storage("0", base)
    state = OrderedDict(
        transposed=_Tensor(
            shared, 0, (4, 3), (1, 4)
        ),  # column-major, like the TF-converted weights
        tail=_Tensor(shared, 12, (2, 6), (6, 1)),
        scalar=_Tensor(shared, 5, (), ()),
    )
    weights = load_state_dict(write_checkpoint(tmp_path / "w.pth", state, [shared]))
    np.testing.assert_array_equal(weights["transposed"], base[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(weights["tail"], base[12:].reshape(2, 6))
    assert weights["scalar"].shape == () and float(weights["scalar"]) == 5.0
    assert all(w.flags.c_contiguous and w.dtype == np.float32 for w in weights.values())


def test_reader_refuses_views_outside_their_storage(tmp_path: Path, write_checkpoint) -> None:
    small = _Storage("0", np.zeros(4))
    state = OrderedDict(evil=_Tensor(small, 0, (1000,), (1000,)))
    with pytest.raises(CheckpointFormatError, match="past the end"):
        load_state_dict(write_checkpoint(tmp_path / "w.pth", state, [small]))


def test_reader_refuses_truncated_files(tmp_path: Path, write_checkpoint) -> None:
    storage = _Storage("0", np.ones(100))
    path = write_checkpoint(
        tmp_path / "w.pth", OrderedDict(w=_Tensor(storage, 0, (100,), (1,))), [storage]
    )
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_state_dict(path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker), protocol=2)
    assert b"system" in payload
    with pytest.raises(UnsafePickleError, match="system"):
        restricted_loads(payload)
    assert not marker.exists()


def test_checkpoint_with_code_in_its_state_dict_is_refused(
    tmp_path: Path, write_checkpoint
) -> None:
    marker = tmp_path / "pwned"
    path = write_checkpoint(tmp_path / "w.pth", OrderedDict(w=_Exploit(marker)), [])
    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()


def test_malformed_state_dict_is_a_format_error(tmp_path: Path, write_checkpoint) -> None:
    class CallsAStorageType:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (sys.modules["torch"].FloatStorage, ())  # a type tag, not a callable

    path = write_checkpoint(tmp_path / "w.pth", OrderedDict(w=CallsAStorageType()), [])
    with pytest.raises(CheckpointFormatError, match="malformed"):
        load_state_dict(path)


def test_zip_format_or_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(b"PK\x03\x04 definitely not a legacy pickle")
    with pytest.raises(CheckpointFormatError):
        load_state_dict(path)


def test_same_pads_match_tensorflow() -> None:
    assert convert.same_pads(224, 3, 2) == (0, 1)
    assert convert.same_pads(56, 5, 2) == (1, 2)
    assert convert.same_pads(14, 5, 1) == (2, 2)


def test_cache_path_from_environment(tmp_path: Path) -> None:
    assert (
        convert.cache_path({"PICSOURCE_MODEL_CACHE": str(tmp_path / "m.onnx")})
        == tmp_path / "m.onnx"
    )
    assert (
        convert.cache_path({"PICSOURCE_MODEL_CACHE": str(tmp_path)}) == tmp_path / convert.FILE_NAME
    )
    assert convert.cache_path({}).name == convert.FILE_NAME


def test_conversion_is_valid_cached_and_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "lite0.onnx"
    assert convert.ensure_model(target) == target
    model = onnx.load(str(target))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["probabilities", "embedding"]
    ops = {n.op_type for n in model.graph.node}
    assert (
        "BatchNormalization" not in ops and {"Conv", "Clip", "GlobalAveragePool", "Softmax"} <= ops
    )
    assert any(a.name == "group" and a.i > 1 for n in model.graph.node for a in n.attribute)
    assert list(tmp_path.joinpath("nested").iterdir()) == [target]  # no temp file left behind

    stamp = target.stat().st_mtime_ns
    convert.ensure_model(target)
    assert target.stat().st_mtime_ns == stamp  # second run reuses the cached file

    target.write_bytes(b"corrupt")
    convert.ensure_model(target)
    onnx.checker.check_model(str(target))

    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    batch = np.zeros((2, 3, 224, 224), dtype=np.float32)
    probabilities, embedding = session.run(None, {"image": batch})
    assert probabilities.shape == (2, 1000) and embedding.shape == (2, 1280)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)


def test_command_line_prints_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("PICSOURCE_MODEL_CACHE", str(tmp_path / "cli.onnx"))
    assert convert.main() == 0
    assert convert.main() == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "up to date" in out
    # The face and text models, rewritten for speed, are cached beside it (graph_rewrites).
    for name in ("pnet", "rnet", "onet", "ch_PP-OCRv4_det_infer", "ch_PP-OCRv4_rec_infer"):
        assert f"{name}.onnx rewritten -> {tmp_path}/{name}." in out
        assert len(list(tmp_path.glob(f"{name}.*.onnx"))) == 1
