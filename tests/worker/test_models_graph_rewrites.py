"""Rewritten ONNX graphs compute what the originals do (picsource_worker.models.graph_rewrites).

Small graphs built here pin each rewrite's pattern, including the cases it must leave
alone; the bundled models check that the rewrites find their patterns in the real files
and keep the outputs, on a real photo.
"""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from picsource_worker.models import faces, graph_rewrites, ocr
from tests.support.images import photo, sign

RNG = np.random.default_rng(7)


def _model(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], shape: list[int],
           out_shape: list[int | None] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})  # type: ignore[no-any-return]


def _ops(model: onnx.ModelProto) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)


def _same(original: onnx.ModelProto, rewritten: onnx.ModelProto, x: np.ndarray) -> None:
    for before, after in zip(_run(original, x), _run(rewritten, x), strict=True):
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def _conv(name: str, x: str, out: str, kernel: int, pads: int, inits: dict[str, np.ndarray],
          channels: tuple[int, int] = (4, 3)) -> onnx.NodeProto:
    inits[f"{name}_w"] = RNG.normal(size=(channels[0], channels[1], kernel, kernel))
    inits[f"{name}_b"] = RNG.normal(size=channels[0])
    return helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out],
                            kernel_shape=[kernel, kernel], pads=[pads] * 4)


def test_prelu_becomes_min_mul_add_with_every_slope_sign() -> None:
    inits: dict[str, np.ndarray] = {"slope": np.array([-1.3, 0.0, 0.25, 1.4]).reshape(1, 4, 1, 1)}
    nodes = [_conv("c", "x", "h", 3, 1, inits), helper.make_node("PRelu", ["h", "slope"], ["y"])]
    original = _model(nodes, inits, [1, 3, 8, 8])
    rewritten = graph_rewrites.prelu_as_min_mul(onnx.load_from_string(original.SerializeToString()))
    assert _ops(rewritten)["PRelu"] == 0 and _ops(rewritten)["Min"] == 1
    _same(original, rewritten, RNG.normal(size=(1, 3, 8, 8)).astype(np.float32))


def _hard_swish(x: str, out: str, inits: dict[str, np.ndarray], tag: str, six: float = 6.0) -> list[onnx.NodeProto]:
    inits.update({f"three{tag}": np.array(3.0), f"zero{tag}": np.array(0.0), f"six{tag}": np.array(6.0),
                  f"div{tag}": np.array(six)})  # fmt: skip
    return [helper.make_node("Add", [x, f"three{tag}"], [f"a{tag}"]),
            helper.make_node("Clip", [f"a{tag}", f"zero{tag}", f"six{tag}"], [f"c{tag}"]),
            helper.make_node("Mul", [x, f"c{tag}"], [f"m{tag}"]),
            helper.make_node("Div", [f"m{tag}", f"div{tag}"], [out])]


def test_hard_swish_becomes_hard_sigmoid_times_x_and_look_alikes_stay() -> None:
    inits: dict[str, np.ndarray] = {}
    nodes = [_conv("c", "x", "h", 3, 1, inits), *_hard_swish("h", "s", inits, "1"),
             *_hard_swish("s", "y", inits, "2", six=5.0)]  # not a hard-swish: / 5
    original = _model(nodes, inits, [1, 3, 8, 8])
    rewritten = graph_rewrites.hard_swish_as_hard_sigmoid(onnx.load_from_string(original.SerializeToString()))
    assert _ops(rewritten)["HardSigmoid"] == 1 and _ops(rewritten)["Clip"] == 1
    _same(original, rewritten, (RNG.normal(size=(1, 3, 8, 8)) * 4).astype(np.float32))


def _affine(x: str, out: str, s: float, t: float, inits: dict[str, np.ndarray], tag: str) -> list[onnx.NodeProto]:
    inits.update({f"s{tag}": np.array([s]), f"t{tag}": np.array([t])})
    return [helper.make_node("Mul", [x, f"s{tag}"], [f"ms{tag}"]),
            helper.make_node("Add", [f"ms{tag}", f"t{tag}"], [out])]


def test_a_scalar_affine_folds_into_the_conv_before_it_and_unpadded_convs_after_it() -> None:
    inits: dict[str, np.ndarray] = {}
    nodes = [
        _conv("c1", "x", "h1", 3, 1, inits),
        *_affine("h1", "a1", 0.7, -0.2, inits, "1"),  # after a conv: folds into c1
        helper.make_node("Relu", ["a1"], ["r1"]),
        *_affine("r1", "a2", 1.9, 0.4, inits, "2"),  # before an unpadded conv: folds into c2
        _conv("c2", "a2", "h2", 1, 0, inits, (4, 4)),
        helper.make_node("Relu", ["h2"], ["r2"]),
        *_affine("r2", "a3", -0.5, 0.3, inits, "3"),  # before a padded conv: stays
        _conv("c3", "a3", "y", 3, 1, inits, (4, 4)),
    ]
    original = _model(nodes, inits, [1, 3, 9, 9])
    rewritten = graph_rewrites.fold_scalar_affine(onnx.load_from_string(original.SerializeToString()))
    assert _ops(rewritten)["Mul"] == 1 and _ops(rewritten)["Add"] == 1
    _same(original, rewritten, RNG.normal(size=(1, 3, 9, 9)).astype(np.float32))


def test_an_affine_whose_result_is_also_read_elsewhere_stays() -> None:
    inits: dict[str, np.ndarray] = {}
    nodes = [_conv("c1", "x", "h1", 3, 1, inits), *_affine("h1", "a1", 0.7, -0.2, inits, "1"),
             _conv("c2", "a1", "h2", 1, 0, inits, (4, 4)), helper.make_node("Add", ["a1", "h2"], ["y"])]
    original = _model(nodes, inits, [1, 3, 8, 8])
    rewritten = graph_rewrites.fold_scalar_affine(onnx.load_from_string(original.SerializeToString()))
    # Folded into c1 (the only reader of c1's output); not into c2, which is not a1's only reader.
    assert _ops(rewritten)["Mul"] == 0 and _ops(rewritten)["Add"] == 1
    _same(original, rewritten, RNG.normal(size=(1, 3, 8, 8)).astype(np.float32))


def _mtcnn_input(size: tuple[int, int]) -> np.ndarray:
    """A real photo as P-Net, R-Net and O-Net take it: (N, W, H, C), scaled to [-1, 1]."""
    pixels = np.asarray(photo("astronaut").convert("RGB").resize(size), dtype=np.float32)
    return ((pixels - 127.5) / 128).transpose(1, 0, 2)[np.newaxis].copy()


@pytest.mark.parametrize(("stage", "size"), [(0, (120, 90)), (1, (24, 24)), (2, (48, 48))])
def test_the_bundled_face_stages_lose_their_prelus_and_keep_their_outputs(stage: int, size: tuple[int, int]) -> None:
    original = onnx.load(str(faces.stage_files()[stage]))
    rewritten = graph_rewrites.apply(onnx.load(str(faces.stage_files()[stage])), graph_rewrites.MTCNN)
    assert _ops(original)["PRelu"] >= 3 and _ops(rewritten)["PRelu"] == 0
    _same(original, rewritten, _mtcnn_input(size))


def test_the_bundled_text_models_lose_their_hard_swish_and_affine_passes_and_keep_their_outputs() -> None:
    detector, recogniser = (onnx.load(str(path)) for path in ocr.model_files())
    # A real photo for the detector, a shop sign's line for the recogniser; BGR in [-1, 1].
    pixels = np.asarray(photo("coffee").convert("RGB").resize((320, 224)), dtype=np.float32)
    image = (pixels[:, :, ::-1] * (2 / 255) - 1).transpose(2, 0, 1)[np.newaxis].copy()
    line = np.asarray(sign().resize((320, 48)), dtype=np.float32)
    strip = (line[:, :, ::-1] * (2 / 255) - 1).transpose(2, 0, 1)[np.newaxis].copy()
    for original, x in ((detector, image), (recogniser, strip)):
        rewritten = graph_rewrites.apply(onnx.load_from_string(original.SerializeToString()),
                                         graph_rewrites.PP_OCR)
        before, after = _ops(original), _ops(rewritten)
        assert before["Clip"] >= 20 and after["Clip"] == 0
        assert after["Mul"] + after["Add"] < (before["Mul"] + before["Add"]) * 0.6
        _same(original, rewritten, x)


def test_optimised_files_are_written_once_per_source_and_rewrites(tmp_path: Path) -> None:
    pnet = faces.stage_files()[0]
    first = graph_rewrites.optimised(pnet, graph_rewrites.MTCNN, tmp_path)
    assert isinstance(first, Path) and first.parent == tmp_path
    assert stat.S_IMODE(first.stat().st_mode) == 0o644  # the runtime user reads build-time files
    written = first.stat().st_mtime_ns
    assert graph_rewrites.optimised(pnet, graph_rewrites.MTCNN, tmp_path) == first
    assert first.stat().st_mtime_ns == written
    other = graph_rewrites.optimised(pnet, (), tmp_path)
    assert other != first and other.read_bytes() == pnet.read_bytes()  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file


def test_optimised_answers_bytes_where_the_cache_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = graph_rewrites.optimised(faces.stage_files()[0], graph_rewrites.MTCNN, blocker / "models")
    assert isinstance(model, bytes)
    assert _ops(onnx.load_from_string(model))["PRelu"] == 0
