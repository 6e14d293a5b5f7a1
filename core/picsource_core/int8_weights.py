"""Keep an int8 ONNX model's weights int8 while it runs.

Why: the text encoder's model.onnx (text_embedding) stores each weight matrix as an int8
initializer followed by ``Cast -> Mul(scale)``. onnxruntime's constant folding (every
optimisation level above "disable all") evaluates those at load, so the session holds
fp32 copies of all 22.5 M weights: about +220 MB per process, in every web and worker
process. Rewriting the two patterns before the session is built keeps them int8:

* ``W(int8) -> Cast -> Mul(scale) -> MatMul(A, ·)`` becomes com.microsoft
  ``DynamicQuantizeMatMul(A, W, scale)`` (activations quantised per call, the int8
  GEMM kernels): about +100 MB per process and ~2x faster per document;
* ``W(int8) -> Cast -> Mul(scale) -> Gather(·, ids)`` (the embedding tables) becomes
  ``Cast(Gather(W, ids)) * Gather(scale, ids)``: only the looked-up rows become float.

The vectors change a little (cosine 0.98-0.995 to the folded model's, neighbours kept),
so text_embedding's model id names the rewrite. Measured with
bench/bench_models.py; the rewrite itself takes ~0.2 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MS_DOMAIN = "com.microsoft"


def keep_int8(model_bytes: bytes) -> bytes:
    """The model with its int8 weight patterns rewritten (other nodes untouched)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    dropped: set[int] = set()
    replaced: dict[int, list[Any]] = {}
    for cast in graph.node:
        if cast.op_type != "Cast" or cast.input[0] not in initializers:
            continue
        muls = consumers.get(cast.output[0], [])
        if len(muls) != 1 or muls[0].op_type != "Mul":
            continue
        mul = muls[0]
        scale_name = next(name for name in mul.input if name != cast.output[0])
        users = consumers.get(mul.output[0], [])
        if len(users) != 1 or scale_name not in initializers:
            continue
        user, weights = users[0], cast.input[0]
        if user.op_type == "MatMul" and user.input[1] == mul.output[0]:
            column_scale = f"{scale_name}_column"
            scale = numpy_helper.to_array(initializers[scale_name]).reshape(-1)
            graph.initializer.append(numpy_helper.from_array(scale.astype("float32"), column_scale))
            replaced[id(user)] = [helper.make_node(
                "DynamicQuantizeMatMul", [user.input[0], weights, column_scale], list(user.output),
                domain=MS_DOMAIN, name=f"{user.name}_int8")]
        elif user.op_type == "Gather" and user.input[0] == mul.output[0]:
            out, ids = user.output[0], user.input[1]
            replaced[id(user)] = [
                helper.make_node("Gather", [weights, ids], [f"{out}_q"], axis=0, name=f"{user.name}_q"),
                helper.make_node("Gather", [scale_name, ids], [f"{out}_s"], axis=0, name=f"{user.name}_s"),
                helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", [f"{out}_f", f"{out}_s"], [out], name=f"{user.name}_scaled"),
            ]
        else:
            continue
        dropped.update({id(cast), id(mul)})
    nodes = [new for node in graph.node if id(node) not in dropped for new in replaced.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph, (name for node in nodes for name in node.input))
    if not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return bytes(model.SerializeToString())


def _drop_unused_initializers(graph: Any, used: Iterable[str]) -> None:
    """Scales replaced by their column copies would otherwise be warned about at every load."""
    keep = set(used) | {output.name for output in graph.output}
    unused = [init for init in graph.initializer if init.name not in keep]
    for init in unused:
        graph.initializer.remove(init)


def folded_weight_patterns(model_bytes: bytes) -> int:
    """How many ``int8 initializer -> Cast -> Mul`` chains (what constant folding turns
    into fp32 copies) a model still has; 0 after keep_int8 on the text encoder."""
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    int8 = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.INT8}
    muls = {name for node in graph.node if node.op_type == "Mul" for name in node.input}
    return sum(1 for node in graph.node
               if node.op_type == "Cast" and node.input[0] in int8 and node.output[0] in muls)
