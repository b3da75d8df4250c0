"""The MiniLM/BERT encoder's weights and a plain numpy forward pass (the reference path)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


@dataclass(frozen=True)
class BertConfig:
    hidden: int
    heads: int
    layers: int
    intermediate: int
    eps: float
    max_positions: int

    @classmethod
    def from_dir(cls, model_dir: Path) -> BertConfig:
        raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        return cls(
            hidden=raw["hidden_size"],
            heads=raw["num_attention_heads"],
            layers=raw["num_hidden_layers"],
            intermediate=raw["intermediate_size"],
            eps=raw["layer_norm_eps"],
            max_positions=raw["max_position_embeddings"],
        )


def load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """The safetensors tensors by their Hugging Face names (no torch: safetensors' numpy loader)."""
    weights = load_file(str(model_dir / "model.safetensors"))
    # Checkpoints saved by some transformers versions prefix every name with "bert.".
    return {name.removeprefix("bert."): tensor for name, tensor in weights.items()}


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; Abramowitz & Stegun 7.1.26 is accurate to 1.5e-7, below float32 resolution
    # of the activations, so GELU matches BERT's exact (erf) form.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def encode_numpy(
    weights: dict[str, np.ndarray], config: BertConfig, input_ids: np.ndarray, attention_mask: np.ndarray
) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings, float32 ``(batch, hidden)``.

    Written as directly as the BERT paper's encoder so it can check the ONNX graph independently.
    """
    w = weights
    batch, length = input_ids.shape
    head_dim = config.hidden // config.heads
    x = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][:length][None, :, :]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], config.eps)
    mask = attention_mask.astype(np.float32)
    bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
    for i in range(config.layers):
        p = f"encoder.layer.{i}."

        def dense(t: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
            return t @ w[f"{prefix}{name}.weight"].T + w[f"{prefix}{name}.bias"]

        def heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, config.heads, head_dim).transpose(0, 2, 1, 3)

        q = heads(dense(x, "attention.self.query"))
        k = heads(dense(x, "attention.self.key"))
        v = heads(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(np.float32(head_dim)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, config.hidden)
        x = _layer_norm(
            x + dense(ctx, "attention.output.dense"),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            config.eps,
        )
        h = dense(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / np.sqrt(np.float32(2.0))))
        x = _layer_norm(
            x + dense(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], config.eps
        )
    pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
