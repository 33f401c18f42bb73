r"""Attention and its supporting layers: MultiHeadAttention, LayerNorm, Embedding, positions.

:class:`MultiHeadAttention` follows PyTorch ``nn.MultiheadAttention`` (``batch_first``, packed
``in_proj_weight``), so its weights load unchanged. For input ``X`` (N, T, d) and ``H`` heads
of width ``d_h = d / H``:

.. math::

    [Q, K, V] = X W_{in}^T + b_{in}, \quad
    A_h = \mathrm{softmax}\!\Bigl(\frac{Q_h K_h^T}{\sqrt{d_h}} + M\Bigr), \quad
    Y = [A_1 V_1, \dots, A_H V_H] W_o^T + b_o

with ``M`` = −∞ above the diagonal for ``causal`` attention (no output depends on a later
token) and, with ``top_k``, −∞ outside the ``k`` largest scores of each query (sparse
attention; ties at the k-th score are all kept).

The packed Q/K/V projection (group 0) and the output projection (group 1) run on tiles, each one
batched call over all sequences and tokens. ``QKᵀ`` and ``A·V`` change with every sequence:
they run digitally by default (batched over sequences and heads), or with
``scores="tiles"`` on tiles written per sequence and head (``Kᵀ`` and ``V`` programmed with
write-verify, their write energy, pulses and cell writes counted; see
:func:`cimsim.nn.accounting.attention_rewrites`).

KV cache: generating a sequence token by token, token ``t`` writes its ``K`` and ``V`` rows
(2d values) and reads the ``t`` cached rows of ``K`` (scores) and of ``V`` (``min(t, k)`` rows
with top-k); :meth:`MultiHeadAttention.kv_cache` counts these values and the cache size, and a
run on the chip adds them, at the tile's input resolution, to the layer's ``kv_cache`` energy.

References
----------
Vaswani et al., "Attention is all you need", NeurIPS 2017, doi:10.48550/arXiv.1706.03762.
Ba, Kiros & Hinton, "Layer normalization" (2016), doi:10.48550/arXiv.1607.06450.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from device_models._checks import check_array, check_choice, check_int, check_scalar, fail
from device_models.errors import InvalidParameterError

from ..ops import OpCounts
from .layers import Softmax
from .sequence import SequenceLayer, SequenceWeighted, check_sample_shape, check_sequence

__all__ = ["Embedding", "LayerNorm", "MultiHeadAttention", "PositionalEncoding"]


def _masked_softmax(s: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of the allowed scores (masked entries get 0); the
    :class:`~cimsim.nn.layers.Softmax` layer's evaluation on ``where(allowed, s, −∞)``."""
    return Softmax().forward(np.where(allowed, s, -np.inf))


class MultiHeadAttention(SequenceWeighted):
    """Multi-head self-attention over ``(N, T, d)`` (see the module docstring).

    Parameters
    ----------
    in_proj_weight : ndarray, shape (3d, d)
        Q, K and V projections stacked (PyTorch layout).
    in_proj_bias : ndarray, shape (3d,), or None
    out_proj_weight : ndarray, shape (d, d)
    out_proj_bias : ndarray, shape (d,), or None
    num_heads : int
        Divides d.
    causal : bool
        Mask every later token.
    top_k : int or None
        Keep only the k largest scores of each query (after the causal mask).
    scores : {"digital", "tiles"}
        Where ``QKᵀ`` and ``A·V`` run on the chip (the float forward is exact either way).
    """

    kind = "MultiHeadAttention"
    param_names = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
    weight_param = "in_proj_weight"

    def __init__(self, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, *,
                 num_heads: int, causal: bool = True, top_k: int | None = None,
                 scores: str = "digital", name: str = "") -> None:
        super().__init__(name)
        caller = f"MultiHeadAttention {name!r}"
        self.in_proj_weight = check_array("in_proj_weight", in_proj_weight, caller, ndim=2)
        d = self.in_proj_weight.shape[1]
        if self.in_proj_weight.shape != (3 * d, d) or d == 0:
            fail("in_proj_weight", caller, "of shape (3d, d)",
                 f"array of shape {self.in_proj_weight.shape}")
        self.out_proj_weight = check_array("out_proj_weight", out_proj_weight, caller, ndim=2)
        if self.out_proj_weight.shape != (d, d):
            fail("out_proj_weight", caller, f"of shape ({d}, {d})",
                 f"array of shape {self.out_proj_weight.shape}")
        self.in_proj_bias = None if in_proj_bias is None else check_array(
            "in_proj_bias", in_proj_bias, caller, ndim=1)
        self.out_proj_bias = None if out_proj_bias is None else check_array(
            "out_proj_bias", out_proj_bias, caller, ndim=1)
        for k, n in (("in_proj_bias", 3 * d), ("out_proj_bias", d)):
            b = getattr(self, k)
            if b is not None and b.shape != (n,):
                fail(k, caller, f"of shape ({n},)", f"array of shape {b.shape}")
        self.num_heads = check_int("num_heads", num_heads, caller, lo=1)
        if d % self.num_heads:
            fail("num_heads", caller, f"a divisor of d={d}", num_heads)
        self.causal = bool(causal)
        self.top_k = None if top_k is None else check_int("top_k", top_k, caller, lo=1)
        check_choice("scores", scores, caller, ("digital", "tiles"),
                     exc=InvalidParameterError)
        self.scores = scores
        self.bias = None

    @property
    def embed_dim(self) -> int:
        return int(self.in_proj_weight.shape[1])

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def n_out(self) -> int:
        return self.embed_dim

    def config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "causal": self.causal, "top_k": self.top_k, "scores": self.scores,
                "bias": self.in_proj_bias is not None}

    def matrices(self) -> list[np.ndarray]:
        return [self.in_proj_weight.T, self.out_proj_weight.T]

    def output_shape(self, input_shape):
        return check_sample_shape(self, input_shape, self.embed_dim)

    def mask(self, t: int, scores: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of allowed (query, key) pairs, (T, T), or with top-k the mask
        broadcast over ``scores`` (..., T, T)."""
        allowed = np.tril(np.ones((t, t), dtype=bool)) if self.causal else np.ones((t, t), bool)
        if self.top_k is None or scores is None or self.top_k >= t:
            return allowed
        s = np.where(allowed, scores, -np.inf)
        kth = -np.partition(-s, self.top_k - 1, axis=-1)[..., self.top_k - 1: self.top_k]
        return allowed & (s >= kth)

    def _split(self, y2d, n, t):
        h, dh = self.num_heads, self.head_dim
        return y2d.reshape(n, t, 3, h, dh).transpose(2, 0, 3, 1, 4)   # (3, N, H, T, dh)

    def forward(self, x, *, train=False, matmul=None):
        x = check_sequence(self, x, self.embed_dim)
        n, t, d = x.shape
        qkv = self._mm(matmul, 0, x.reshape(n * t, d))
        if self.in_proj_bias is not None:
            qkv = qkv + self.in_proj_bias
        q, k, v = self._split(qkv, n, t)
        hw = getattr(matmul, "hardware", None) if matmul is not None else None
        on_tiles = self.scores == "tiles" and hw is not None
        if on_tiles:
            o = self._tile_attention(q, k, v, matmul)
        else:
            s = np.matmul(q, k.transpose(0, 1, 3, 2)) / math.sqrt(self.head_dim)
            a = _masked_softmax(s, self.mask(t, s))
            o = np.matmul(a, v)                                      # (N, H, T, dh)
        o = o.transpose(0, 2, 1, 3).reshape(n * t, d)
        y = self._mm(matmul, 1, o)
        if self.out_proj_bias is not None:
            y = y + self.out_proj_bias
        if hw is not None and not on_tiles:   # on tiles, K and V live in the written cells
            kv, bits = self.kv_cache(t), hw.tile.input_bits
            self._add_counts(matmul, self.name, kv_cache_write_bits=n * kv["write"] * bits,
                             kv_cache_read_bits=n * kv["read"] * bits)
        return y.reshape(n, t, d)

    def _tile_attention(self, q, k, v, matmul):
        """QKᵀ and A·V on tiles written per sequence and head (one AnalogMatrix each for Kᵀ
        and V, calibrated on that sequence's own queries and attention weights)."""
        from ..tile.matrix import AnalogMatrix

        hw = matmul.hardware
        n, h, t, dh = q.shape
        out = np.empty_like(q)
        counts, written = OpCounts(), OpCounts()
        cells = rows = 0
        first = int(getattr(matmul, "first", 0))
        scale = 1.0 / math.sqrt(dh)
        for i in range(n):          # each sequence rewrites the tiles: a loop is inherent
            for j in range(h):
                tag = f"{self.name}/{first + i}/{j}"
                km = AnalogMatrix(k[i, j].T * scale, hw, name=f"{tag}/K", seed_tag=tag + "/K")
                km.calibrate(q[i, j], t_s=0.0)
                s, c1 = km.matmul(q[i, j], t_s=0.0, sample_offset=0)
                a = _masked_softmax(s, self.mask(t, s))
                vm = AnalogMatrix(v[i, j], hw, name=f"{tag}/V", seed_tag=tag + "/V")
                vm.calibrate(a, t_s=0.0)
                out[i, j], c2 = vm.matmul(a, t_s=0.0, sample_offset=0)
                counts += c1 + c2
                written += km.program_counts + vm.program_counts
                cells += sum(tl.mapping.n_phys * tl.rows_used for tl in km.tiles + vm.tiles)
                rows += max(tl.rows_used for tl in km.tiles) + max(tl.rows_used
                                                                  for tl in vm.tiles)
        add = getattr(matmul, "add_counts", None)
        if add is not None:
            add(self.name, counts, rewrite=written, cells_written=cells, rows_written=rows)
        return out

    def _pairs(self, t: int) -> tuple[int, int]:
        """(query-key pairs scored, pairs kept) of one head over ``t`` tokens."""
        span = range(1, t + 1) if self.causal else [t] * t     # keys each query may see
        pairs = sum(span)
        kept = pairs if self.top_k is None else sum(min(s, self.top_k) for s in span)
        return pairs, kept

    def kv_cache(self, t: int) -> dict[str, int]:
        """KV-cache traffic of one sequence of ``t`` tokens generated one at a time, in
        values: ``write`` (K and V of every token), ``read`` (the K rows each query scores
        and the V rows it keeps), ``size`` (values held after the last token) [-]."""
        pairs, kept = self._pairs(t)
        d = self.embed_dim
        return {"write": 2 * t * d, "read": d * (pairs + kept), "size": 2 * t * d}

    def digital_ops(self, input_shape):
        """Bias adds; QKᵀ and A·V as MACs (digital scores) with the 1/√d_h scaling and the
        top-k comparisons (``"attention"`` line); the softmax of the kept scores per query
        (``"softmax"`` line: compare, subtract, exp, sum, one reciprocal, normalise)."""
        t = int(input_shape[0])
        h, dh = self.num_heads, self.head_dim
        pairs, kept = self._pairs(t)
        out = {}
        if self.in_proj_bias is not None:
            out["bias"] = {"add": float(4 * self.embed_dim * t)}
        att = {"mult": float(h * pairs)}
        if self.scores == "digital":
            att["mac"] = float(h * dh * (pairs + kept))
        if self.top_k is not None:
            att["compare"] = float(h * pairs)
        out["attention"] = att
        out["softmax"] = {"compare": float(h * kept), "add": float(2 * h * kept),
                          "exp": float(h * kept), "mult": float(h * kept),
                          "recip": float(h * t)}
        return out

    @classmethod
    def from_spec(cls, get, arr, name):
        d, h = int(get("embed_dim")), int(get("num_heads"))
        bias = bool(get("bias", True))
        return cls(arr("in_proj_weight", (3 * d, d)), arr("in_proj_bias", (3 * d,))
                   if bias else None, arr("out_proj_weight", (d, d)),
                   arr("out_proj_bias", (d,)) if bias else None, num_heads=h,
                   causal=bool(get("causal", True)), top_k=get("top_k", None),
                   scores=get("scores", "digital"), name=name)


class LayerNorm(SequenceLayer):
    """Layer normalisation over the last axis (PyTorch ``nn.LayerNorm(d)``), digital.

    It computes::

        y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias
    """

    kind = "LayerNorm"
    param_names = ("weight", "bias")

    def __init__(self, weight, bias=None, *, eps: float = 1e-5, name: str = "") -> None:
        super().__init__(name)
        caller = f"LayerNorm {name!r}"
        self.weight = check_array("weight", weight, caller, ndim=1)
        self.bias = None if bias is None else check_array("bias", bias, caller, ndim=1)
        if self.bias is not None and self.bias.shape != self.weight.shape:
            fail("bias", caller, f"of shape {self.weight.shape} like weight",
                 f"array of shape {self.bias.shape}")
        self.eps = check_scalar("eps", eps, caller, lo=0.0, lo_open=True)

    @property
    def normalized_shape(self) -> int:
        return int(self.weight.shape[0])

    def config(self):
        return {"normalized_shape": self.normalized_shape, "eps": self.eps,
                "bias": self.bias is not None}

    def output_shape(self, input_shape):
        shape = tuple(int(s) for s in input_shape)
        if not shape or shape[-1] != self.normalized_shape:
            fail("input_shape", f"LayerNorm {self.name!r}",
                 f"ending in {self.normalized_shape}", shape)
        return shape

    def forward(self, x, *, train=False, matmul=None):
        caller = f"LayerNorm {self.name!r}"
        x = check_array("x", x, caller)
        if x.ndim < 2 or x.shape[-1] != self.normalized_shape:
            fail("x", caller, f"of shape (N, ..., {self.normalized_shape})",
                 f"array of shape {x.shape}")
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        y = (x - mu) / np.sqrt(var + self.eps) * self.weight
        return y if self.bias is None else y + self.bias

    def digital_ops(self, input_shape):
        """Per token of F values: mean (F adds, 1 mult), x − μ (F adds), variance (F mults,
        F adds, 1 mult), one rsqrt, normalise (F mults), scale and shift (F mults, F adds)
        (``"layer_norm"`` line)."""
        tokens = float(np.prod(input_shape[:-1])) if len(input_shape) > 1 else 1.0
        f = self.normalized_shape
        return {"layer_norm": {"add": tokens * 4 * f, "mult": tokens * (3 * f + 2),
                               "rsqrt": tokens}}

    @classmethod
    def from_spec(cls, get, arr, name):
        f = int(get("normalized_shape"))
        return cls(arr("weight", (f,)), arr("bias", (f,)) if get("bias", True) else None,
                   eps=get("eps", 1e-5), name=name)


class Embedding(SequenceLayer):
    """Token embedding ``(N, T)`` integer ids → ``(N, T, d)``: a table read (on-chip SRAM,
    counted as ``sram`` bits at the tile's input resolution in a run on the chip).

    Parameters
    ----------
    weight : ndarray, shape (num_embeddings, d)
    """

    kind = "Embedding"
    param_names = ("weight",)

    def __init__(self, weight, name: str = "") -> None:
        super().__init__(name)
        self.weight = check_array("weight", weight, f"Embedding {name!r}", ndim=2)

    @property
    def num_embeddings(self) -> int:
        return int(self.weight.shape[0])

    @property
    def embedding_dim(self) -> int:
        return int(self.weight.shape[1])

    def config(self):
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim}

    def output_shape(self, input_shape):
        (t,) = check_sample_shape(self, input_shape, None, ndim=1)
        return (t, self.embedding_dim)

    def forward(self, x, *, train=False, matmul=None):
        caller = f"Embedding {self.name!r}"
        x = check_sequence(self, x, None, ndim=2)
        ids = x.astype(np.int64)
        if np.any(ids != x) or np.any(ids < 0) or np.any(ids >= self.num_embeddings):
            bad = tuple(int(i) for i in np.argwhere(
                (ids != x) | (ids < 0) | (ids >= self.num_embeddings))[0])
            fail("x", caller, f"integer token ids in [0, {self.num_embeddings})",
                 f"{x[bad]!r} at index {bad}")
        hw = getattr(matmul, "hardware", None) if matmul is not None else None
        if hw is not None:      # the table lives in on-chip SRAM at the activation resolution
            self._add_counts(matmul, self.name, sram_read_bits=int(
                ids.size * self.embedding_dim * hw.tile.input_bits))
        return self.weight[ids]

    def table_values(self, input_shape) -> int:
        """Values read from the embedding table for one sample [-]."""
        return int(input_shape[0]) * self.embedding_dim

    @classmethod
    def from_spec(cls, get, arr, name):
        return cls(arr("weight", (int(get("num_embeddings")), int(get("embedding_dim")))),
                   name=name)


class PositionalEncoding(SequenceLayer):
    r"""Adds the sinusoidal position code of Vaswani et al. (digital):

    .. math:: P_{t,2i} = \sin(t / 10000^{2i/d}), \quad P_{t,2i+1} = \cos(t / 10000^{2i/d})

    Parameters
    ----------
    d_model : int
    max_len : int
        Longest sequence [tokens].
    """

    kind = "PositionalEncoding"

    def __init__(self, d_model: int, max_len: int = 512, name: str = "") -> None:
        super().__init__(name)
        caller = f"PositionalEncoding {name!r}"
        self.d_model = check_int("d_model", d_model, caller, lo=1)
        self.max_len = check_int("max_len", max_len, caller, lo=1)

    def config(self):
        return {"d_model": self.d_model, "max_len": self.max_len}

    def table(self, t: int) -> np.ndarray:
        """The code of the first ``t`` positions, (t, d_model)."""
        pos = np.arange(t)[:, None]
        i = np.arange(0, self.d_model, 2)
        angle = pos / (10000.0 ** (i / self.d_model))
        out = np.zeros((t, self.d_model))
        out[:, 0::2] = np.sin(angle)
        out[:, 1::2] = np.cos(angle[:, : self.d_model // 2])
        return out

    def output_shape(self, input_shape):
        t, _ = check_sample_shape(self, input_shape, self.d_model)
        if t > self.max_len:
            fail("input_shape", f"PositionalEncoding {self.name!r}",
                 f"at most max_len={self.max_len} tokens", t)
        return (t, self.d_model)

    def forward(self, x, *, train=False, matmul=None):
        x = check_sequence(self, x, self.d_model)
        self.output_shape(x.shape[1:])
        hw = getattr(matmul, "hardware", None) if matmul is not None else None
        if hw is not None:
            self._add_counts(matmul, self.name,
                             sram_read_bits=int(x.shape[1] * self.d_model * hw.tile.input_bits))
        return x + self.table(x.shape[1])

    def digital_ops(self, input_shape):
        """One add per value (``"positional"`` line); the table read is SRAM traffic."""
        return {"positional": {"add": float(input_shape[0] * self.d_model)}}

    @classmethod
    def from_spec(cls, get, arr, name):
        return cls(int(get("d_model")), int(get("max_len", 512)), name=name)
