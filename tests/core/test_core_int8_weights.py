"""picsource_core.int8_weights: the text encoder's weights stay int8 once loaded.

Pure: the real model.onnx from its package, rewritten in memory and run on onnxruntime.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from picsource_core import text_embedding as te
from picsource_core.int8_weights import folded_weight_patterns, keep_int8

TEXTS = ["golden retriever on a seashore", "dog at the beach", "a tax form full of numbers",
         "Grand opening of the corner café, an espresso with a person", "鯨 " * 40, "🙂" * 30]


@pytest.fixture(scope="module")
def original() -> bytes:
    return te.verified_bytes(te.package_file(*te.MODEL_FILE), te.MODEL_SHA256)


@pytest.fixture(scope="module")
def tokenizer() -> str:
    return te.verified_bytes(te.package_file(*te.TOKENIZER_FILE), te.TOKENIZER_SHA256).decode()


def test_the_rewrite_leaves_no_weight_for_constant_folding_to_widen(original: bytes) -> None:
    assert folded_weight_patterns(original) > 30  # every MatMul weight and both embedding tables
    rewritten = keep_int8(original)
    assert folded_weight_patterns(rewritten) == 0
    ops = [node.op_type for node in onnx.load_from_string(rewritten).graph.node]
    assert ops.count("DynamicQuantizeMatMul") >= 36  # 6 layers x (q, k, v, out, 2 feed-forward)


def test_vectors_keep_their_direction_and_their_neighbours(original: bytes, tokenizer: str) -> None:
    folded = te.TextEncoder(original, tokenizer).embed(TEXTS)
    kept = te.TextEncoder(keep_int8(original), tokenizer).embed(TEXTS)
    cosines = (folded * kept).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    for vectors in (folded, kept):
        similarity = vectors @ vectors[1]
        assert int(np.argsort(-similarity)[1]) == 0  # "dog at the beach" -> the retriever first


def test_a_model_without_the_pattern_is_left_as_it_was() -> None:
    weights = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weights])
    model = helper.make_model(graph).SerializeToString()
    again = onnx.load_from_string(keep_int8(model)).graph
    assert [n.op_type for n in again.node] == ["MatMul"] and [i.name for i in again.initializer] == ["w"]
