"""Builds the MiniLM/BERT encoder as an fp32 ONNX graph from the safetensors weights (no torch, no export).

The graph takes ``input_ids`` and ``attention_mask`` (int64, ``(batch, length)``) and returns the
mean-pooled token states ``(batch, hidden)``; normalisation stays in numpy. Each layer uses ONNX
Runtime's CPU contrib kernels (``Attention``, ``SkipLayerNormalization``, ``BiasGelu``), the kernels its
transformer optimizer would produce from a PyTorch export; they measured 6% faster than the same layer
written in standard ops, and agree with it to a cosine of 0.9999999. Building is deterministic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .bert import BertConfig

OPSET = 17
MS_DOMAIN = "com.microsoft"


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain or None, **attrs))
        return out


def build_model(weights: dict[str, np.ndarray], config: BertConfig) -> onnx.ModelProto:
    w = weights
    g = _Graph()
    eps = config.eps
    i64 = np.int64

    # Embeddings: word + (position + token type 0, pre-added: every text is one segment) -> LayerNorm.
    word = g.const("word_embeddings", w["embeddings.word_embeddings.weight"])
    pos = g.const(
        "position_embeddings",
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0],
    )
    zero, one, two = (g.const(f"c_{n}", np.array([v], i64)) for n, v in (("zero", 0), ("one", 1), ("two", 2)))
    length = g.op("Slice", [g.op("Shape", ["input_ids"]), one, two])  # 1-D [length]
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0), g.op("Slice", [pos, zero, length, zero])])
    x = g.op(
        "LayerNormalization",
        [x, g.const("emb_ln_g", w["embeddings.LayerNorm.weight"]), g.const("emb_ln_b", w["embeddings.LayerNorm.bias"])],
        axis=-1,
        epsilon=eps,
    )
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    mask_i32 = g.op("Cast", ["attention_mask"], to=TensorProto.INT32)

    for i in range(config.layers):
        p = f"encoder.layer.{i}."

        def const(name: str, value: np.ndarray, layer: int = i) -> str:
            return g.const(f"l{layer}_{name}", value)

        def linear(name: str, prefix: str = p) -> tuple[str, str]:
            # MatMul wants (in, out); Hugging Face stores Linear weights as (out, in).
            return const(f"{name}.w", w[f"{prefix}{name}.weight"].T), const(f"{name}.b", w[f"{prefix}{name}.bias"])

        def norm(name: str, prefix: str = p) -> list[str]:
            return [const(f"{name}.g", w[f"{prefix}{name}.weight"]), const(f"{name}.b", w[f"{prefix}{name}.bias"])]

        qkv_w = np.concatenate([w[f"{p}attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([w[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value")])
        ctx = g.op(
            "Attention",
            [x, const("qkv.w", qkv_w), const("qkv.b", qkv_b), mask_i32],
            domain=MS_DOMAIN,
            num_heads=config.heads,
        )
        out_w, out_b = linear("attention.output.dense")
        x = g.op(
            "SkipLayerNormalization",
            [g.op("MatMul", [ctx, out_w]), x, *norm("attention.output.LayerNorm"), out_b],
            domain=MS_DOMAIN,
            epsilon=eps,
        )
        up_w, up_b = linear("intermediate.dense")
        h = g.op("BiasGelu", [g.op("MatMul", [x, up_w]), up_b], domain=MS_DOMAIN)  # exact (erf) GELU
        down_w, down_b = linear("output.dense")
        x = g.op(
            "SkipLayerNormalization",
            [g.op("MatMul", [h, down_w]), x, *norm("output.LayerNorm"), down_b],
            domain=MS_DOMAIN,
            epsilon=eps,
        )

    # Mean over real tokens only.
    axis1 = g.const("c_axis1", np.array([1], i64))
    masked = g.op("Mul", [x, g.op("Unsqueeze", [mask_f, g.const("c_axis2", np.array([2], i64))])])
    summed = g.op("ReduceSum", [masked, axis1], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask_f, axis1], keepdims=1), g.const("c_tiny", np.array(1e-9, np.float32))])
    g.nodes.append(helper.make_node("Div", [summed, count], ["pooled"]))

    graph = helper.make_graph(
        g.nodes,
        "minilm_mean_pooled",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", config.hidden])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
        producer_name="botsmith",
    )
    model.ir_version = 8
    return model
