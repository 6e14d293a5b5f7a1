"""Rewrite bundled ONNX graphs into equal ones that onnxruntime runs faster on a CPU.

Why: the face and text models were exported by converters (a Keras port of MTCNN,
paddle2onnx for PP-OCR) whose graphs spend a third of their time in element-wise ops
that onnxruntime runs one pass each, outside its blocked (NCHWc) convolution layout:

* **PReLU** (every MTCNN stage): onnxruntime's kernel took 4.7 of P-Net's 13.6 ms.
  ``x + (a - 1) * min(x, 0)`` is the same function (``x`` when positive, ``a * x`` when
  not) in three fast passes (P-Net 13.3 -> 9.5 ms, R-Net 14.3 -> 9.1 ms at 97 crops);
* **hard-swish** written as ``x * clip(x + 3, 0, 6) / 6`` (four passes, PP-LCNet in both
  PP-OCR models) becomes ``x * HardSigmoid(x)`` (two; HardSigmoid's slope 1/6, offset 0.5);
* PP-LCNet's **learnable affine** (``x * s + t``, two scalars) after a convolution is folded
  into that convolution's weights and bias, and before convolutions without padding into
  theirs (``W(s*x + t) = (s*W)x + t*sum(W)``). Before a padded convolution it stays: the
  padding's zeros would become ``t``.

Each rewrite is exact algebra; only float rounding differs (~1e-6 of the outputs). Pure
functions from ModelProto to ModelProto; ``optimised`` applies them to a wheel's file once
and caches the result beside the converted classifier (at image build time in the worker
image: ``python -m picsource_worker.models.convert``), so the wheels stay as shipped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from picsource_worker.models.convert import cache_path, write_atomically

Rewrite = Callable[[onnx.ModelProto], onnx.ModelProto]


class _Graph:
    """Who makes and who reads each tensor, the constants' values, and edits to apply."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        graph = model.graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.outputs = {out.name for out in graph.output}
        self.removed: set[int] = set()
        self.inserted: dict[int, list[onnx.NodeProto]] = {}  # in place of a removed node
        self.renamed: dict[str, str] = {}  # tensor -> the tensor that now carries its value

    def scalar(self, node: onnx.NodeProto) -> tuple[str, float] | None:
        """(the other input, the value) when ``node`` has two inputs, one a 1-element constant."""
        if len(node.input) != 2:
            return None
        for const, other in ((node.input[1], node.input[0]), (node.input[0], node.input[1])):
            value = self.values.get(const)
            if value is not None and value.size == 1 and other not in self.values:
                return other, float(value.reshape(-1)[0])
        return None

    def only_reader(self, tensor: str, op_type: str) -> onnx.NodeProto | None:
        """The single node reading ``tensor`` if it is an ``op_type`` (and not a graph output)."""
        readers = self.consumers.get(tensor, [])
        if len(readers) == 1 and readers[0].op_type == op_type and tensor not in self.outputs:
            return readers[0]
        return None

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        self.values[name] = value
        return name

    def replace_constant(self, name: str, value: np.ndarray) -> None:
        """Give the initializer or Constant node ``name`` a new value."""
        tensor = numpy_helper.from_array(value, name)
        self.values[name] = value
        for init in self.model.graph.initializer:
            if init.name == name:
                init.CopyFrom(tensor)
                return
        node = self.producer[name]  # a Constant (values holds nothing else)
        node.attribute[0].t.CopyFrom(tensor)

    def done(self) -> onnx.ModelProto:
        """The model with removed nodes dropped, inserted ones placed, inputs renamed."""
        nodes: list[onnx.NodeProto] = []
        for node in self.model.graph.node:
            nodes.extend(self.inserted.get(id(node), []))
            if id(node) not in self.removed:
                nodes.append(node)
        for node in nodes:
            for i, name in enumerate(node.input):
                while name in self.renamed:
                    name = self.renamed[name]
                node.input[i] = name
        del self.model.graph.node[:]
        self.model.graph.node.extend(nodes)
        # Initializers no node reads any more stay (a subgraph could still name one);
        # onnxruntime drops the unused ones when it loads the model.
        return self.model


def prelu_as_min_mul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every PReLU with a constant slope ``a`` becomes ``x + (a - 1) * min(x, 0)``."""
    g = _Graph(model)
    zero = "rewrite_zero"
    for node in list(model.graph.node):
        slope = g.values.get(node.input[1]) if node.op_type == "PRelu" else None
        if slope is None:
            continue
        if zero not in g.values:
            g.add_initializer(zero, np.zeros((), dtype=np.float32))
        x, name = node.input[0], node.name or node.output[0]
        shifted = g.add_initializer(f"{name}_slope_minus_one", (slope - 1).astype(np.float32))
        g.inserted[id(node)] = [
            helper.make_node("Min", [x, zero], [f"{name}_negative"]),
            helper.make_node("Mul", [f"{name}_negative", shifted], [f"{name}_scaled"]),
            helper.make_node("Add", [x, f"{name}_scaled"], [node.output[0]]),
        ]
        g.removed.add(id(node))
    return g.done()


def hard_swish_as_hard_sigmoid(model: onnx.ModelProto) -> onnx.ModelProto:
    """``Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)`` becomes ``Mul(x, HardSigmoid(x))``."""
    g = _Graph(model)
    for add in list(model.graph.node):
        found = g.scalar(add) if add.op_type == "Add" else None
        if found is None or found[1] != 3.0:
            continue
        x = found[0]
        clip = g.only_reader(add.output[0], "Clip")
        if clip is None or [g.values.get(n) for n in clip.input[1:]] != [0.0, 6.0]:
            continue
        mul = g.only_reader(clip.output[0], "Mul")
        div = g.only_reader(mul.output[0], "Div") if mul is not None else None
        if mul is None or x not in mul.input or div is None or g.scalar(div) != (mul.output[0], 6.0):
            continue
        gate = f"{div.output[0]}_gate"
        g.inserted[id(div)] = [
            helper.make_node("HardSigmoid", [x], [gate], alpha=1.0 / 6.0, beta=0.5),
            helper.make_node("Mul", [x, gate], [div.output[0]]),
        ]
        g.removed.update({id(add), id(clip), id(mul), id(div)})
    return g.done()


def _conv_pads_zero(node: onnx.NodeProto) -> bool:
    for attribute in node.attribute:
        if attribute.name == "pads" and any(attribute.ints):
            return False
        if attribute.name == "auto_pad" and attribute.s not in (b"", b"NOTSET", b"VALID"):
            return False
    return True


def _own_weights(g: _Graph, conv: onnx.NodeProto) -> bool:
    """Constant weights (and bias) that no other node reads: safe to change in place."""
    params = conv.input[1:3]
    return all(p in g.values and len(g.consumers[p]) == 1 for p in params)


def _bias(g: _Graph, conv: onnx.NodeProto, channels: int) -> tuple[str, np.ndarray]:
    """The convolution's bias (name, value), made zero if it has none."""
    if len(conv.input) > 2 and conv.input[2] in g.values:
        return conv.input[2], g.values[conv.input[2]]
    name = g.add_initializer(f"{conv.output[0]}_bias", np.zeros(channels, dtype=np.float32))
    if len(conv.input) == 2:
        conv.input.append(name)
    else:
        conv.input[2] = name
    return name, g.values[name]


def _affine(g: _Graph, mul: onnx.NodeProto) -> tuple[str, float, float, onnx.NodeProto] | None:
    """(x, s, t, the Add) for ``Add(Mul(x, s), t)`` with scalar constants s and t."""
    found = g.scalar(mul) if mul.op_type == "Mul" else None
    add = g.only_reader(mul.output[0], "Add") if found else None
    shift = g.scalar(add) if add is not None else None
    if found is None or add is None or shift is None or shift[0] != mul.output[0]:
        return None
    return found[0], found[1], shift[1], add


def fold_scalar_affine(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold ``x * s + t`` into the convolution before it or the unpadded ones after it."""
    g = _Graph(model)
    for mul in list(model.graph.node):
        found = _affine(g, mul)
        if found is None:
            continue
        x, s, t, add = found
        if add.output[0] in g.outputs:
            continue
        conv = g.producer.get(x)
        readers = g.consumers.get(add.output[0], [])
        if conv is not None and conv.op_type == "Conv" and g.only_reader(x, "Mul") is mul \
                and _own_weights(g, conv):
            weights = g.values[conv.input[1]]
            bias_name, bias = _bias(g, conv, weights.shape[0])
            g.replace_constant(conv.input[1], (weights * s).astype(np.float32))
            g.replace_constant(bias_name, (bias * s + t).astype(np.float32))
        elif readers and all(r.op_type == "Conv" and r.input[0] == add.output[0]
                             and _own_weights(g, r) and _conv_pads_zero(r) for r in readers):
            for conv in readers:
                weights = g.values[conv.input[1]]
                bias_name, bias = _bias(g, conv, weights.shape[0])
                total = weights.reshape(weights.shape[0], -1).sum(axis=1)
                g.replace_constant(conv.input[1], (weights * s).astype(np.float32))
                g.replace_constant(bias_name, (bias + t * total).astype(np.float32))
        else:
            continue
        g.renamed[add.output[0]] = x
        g.removed.update({id(mul), id(add)})
    return g.done()


def apply(model: onnx.ModelProto, rewrites: Iterable[Rewrite]) -> onnx.ModelProto:
    for rewrite in rewrites:
        model = rewrite(model)
    return model


def optimised(path: str | Path, rewrites: Sequence[Rewrite], folder: Path | None = None) -> Path | bytes:
    """The model at ``path`` after ``rewrites``, for ``runtime.new_session``: a file in the
    model cache (``folder``, by default the converted classifier's), written once and named
    by the source's SHA-256 and the rewrites, so a changed wheel or rewrite makes a new one.
    A file, not bytes, because a session built from bytes kept ~14 MB more per process (the
    two OCR models). Where the cache cannot be written (a read-only root filesystem without
    the image's build-time files), the bytes."""
    source = Path(path).read_bytes()
    names = ",".join(rewrite.__name__ for rewrite in rewrites)
    digest = hashlib.sha256(source)
    digest.update(f"|{VERSION}|{names}".encode())
    key = digest.hexdigest()[:16]
    target = (folder or cache_path().parent) / f"{Path(path).stem}.{key}.onnx"
    if target.is_file():
        return target
    model = apply(onnx.load_from_string(source), rewrites).SerializeToString()
    try:
        write_atomically(target, model)
    except OSError:
        return model
    return target


#: Bump when a rewrite changes what it writes: cached files of the old version are unused.
VERSION = "2"
#: What each bundled family needs.
MTCNN: tuple[Rewrite, ...] = (prelu_as_min_mul,)
PP_OCR: tuple[Rewrite, ...] = (fold_scalar_affine, hard_swish_as_hard_sigmoid)
