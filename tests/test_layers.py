"""Layers: im2col against a direct convolution, gradients against finite differences,
BatchNorm folding, activation formulas, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from cimsim.nn.layers import (
    GELU,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Sigmoid,
    Softplus,
    Swish,
    Tanh,
    fold_batchnorm,
)
from device_models.errors import InvalidParameterError


def _rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def direct_conv(x, w, b, stride, padding, groups):
    """Textbook loops over output pixels (independent of im2col)."""
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    sh, sw = stride
    ph, pw = padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph: ph + h, pw: pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    og = oc // groups
    out = np.zeros((n, oc, oh, ow))
    for o in range(oc):
        g = o // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg: (g + 1) * cg, i * sh: i * sh + kh, j * sw: j * sw + kw]
                out[:, o, i, j] = np.sum(patch * w[o], axis=(1, 2, 3)) + (0 if b is None else b[o])
    return out


@pytest.mark.parametrize("stride,padding,groups,k", [
    ((1, 1), (0, 0), 1, (3, 3)),
    ((2, 2), (1, 1), 1, (3, 3)),
    ((1, 2), (2, 1), 2, (3, 2)),
    ((2, 1), (1, 0), 4, (1, 3)),
])
def test_im2col_conv_equals_direct_convolution(stride, padding, groups, k):
    x = _rand(0, 3, 4, 7, 6)
    w = _rand(1, 8, 4 // groups, *k)
    b = _rand(2, 8)
    conv = Conv2d(w, b, stride=stride, padding=padding, groups=groups)
    y = conv.forward(x)
    ref = direct_conv(x, w, b, stride, padding, groups)
    assert y.shape == ref.shape == (3, *conv.output_shape((4, 7, 6)))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv_matmul_hook_sees_each_group():
    x = _rand(0, 2, 4, 5, 5)
    conv = Conv2d(_rand(1, 6, 2, 3, 3), None, padding=1, groups=2)
    seen = []

    def matmul(layer, g, p):
        seen.append((g, p.shape))
        return p @ layer.matrices()[g]

    np.testing.assert_allclose(conv.forward(x, matmul=matmul), conv.forward(x), rtol=1e-13)
    assert seen == [(0, (50, 18)), (1, (50, 18))]


def test_pooling_values():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(MaxPool2d(2).forward(x)[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(AvgPool2d(2).forward(x)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # padding: max ignores the pad, average counts it as zero (PyTorch defaults)
    assert MaxPool2d(2, 2, 1).forward(-np.ones((1, 1, 2, 2)))[0, 0, 0, 0] == -1.0
    assert AvgPool2d(2, 2, 1).forward(np.ones((1, 1, 2, 2)))[0, 0, 0, 0] == 0.25


def test_activation_formulas():
    x = np.linspace(-6, 6, 41)
    s = 1 / (1 + np.exp(-1.7 * x))
    np.testing.assert_allclose(Swish(1.7).forward(x), x * s, rtol=1e-13)
    np.testing.assert_allclose(Softplus(2.0).forward(x), np.log1p(np.exp(2 * x)) / 2, rtol=1e-12)
    assert Softplus().forward(np.array([800.0]))[0] == 800.0  # no overflow
    np.testing.assert_allclose(GELU().forward(x), x * norm.cdf(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(GELU("tanh").forward(x), x * norm.cdf(x), atol=2e-3)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-13)
    np.testing.assert_array_equal(ReLU().forward(x), np.maximum(x, 0))


def _grad_check(layer, x, seed=5, eps=1e-6, tol=1e-6):
    """Backward against central finite differences of sum(forward * r)."""
    r = _rand(seed, *layer.forward(x).shape)
    layer.forward(x, train=True)
    gx = layer.backward(r)
    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (np.sum(layer.forward(xp) * r) - np.sum(layer.forward(xm) * r)) / (2 * eps)
    np.testing.assert_allclose(gx, num, rtol=tol, atol=tol)
    for name, g in layer.grads.items():
        p = getattr(layer, name)
        idx = tuple(np.unravel_index(np.arange(0, p.size, max(1, p.size // 7)), p.shape))
        for flat in zip(*idx, strict=True):
            old = p[flat]
            p[flat] = old + eps
            fp = np.sum(layer.forward(x) * r)
            p[flat] = old - eps
            fm = np.sum(layer.forward(x) * r)
            p[flat] = old
            assert abs(g[flat] - (fp - fm) / (2 * eps)) < tol * max(1, abs(g[flat])), name


@pytest.mark.parametrize("make,shape", [
    (lambda: Linear(_rand(1, 4, 6), _rand(2, 4)), (3, 6)),
    (lambda: Conv2d(_rand(1, 4, 1, 3, 3), _rand(2, 4), stride=2, padding=1, groups=2),
     (2, 2, 5, 5)),
    (lambda: MaxPool2d(2, 1, 1), (2, 2, 4, 4)),
    (lambda: AvgPool2d(3, 2, 1), (2, 2, 5, 5)),
    (lambda: BatchNorm(_rand(1, 3), _rand(2, 3), _rand(3, 3), np.abs(_rand(4, 3)) + 0.5),
     (2, 3, 2, 2)),
    (lambda: Flatten(), (2, 3, 2, 2)),
    (lambda: Swish(1.3), (3, 5)),
    (lambda: Softplus(0.7), (3, 5)),
    (lambda: GELU(), (3, 5)),
    (lambda: GELU("tanh"), (3, 5)),
    (lambda: Tanh(), (3, 5)),
    (lambda: Sigmoid(), (3, 5)),
    (lambda: Residual([Conv2d(_rand(1, 2, 2, 3, 3), None, padding=1), Swish()]), (2, 2, 4, 4)),
])
def test_backward_matches_finite_differences(make, shape):
    _grad_check(make(), _rand(9, *shape))


def test_relu_backward():
    x = np.array([[-1.0, 2.0, 0.5]])
    layer = ReLU()
    layer.forward(x, train=True)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[0, 1, 1]])


def test_batchnorm_folding_is_exact():
    x = _rand(0, 5, 3, 6, 6)
    conv = Conv2d(_rand(1, 4, 3, 3, 3), _rand(2, 4), padding=1, name="c")
    bn = BatchNorm(_rand(3, 4), _rand(4, 4), _rand(5, 4), np.abs(_rand(6, 4)) + 0.1,
                   eps=1e-3, name="bn")
    conv_nb = Conv2d(_rand(7, 4, 4, 1, 1), None, name="c2")
    bn2 = BatchNorm(_rand(8, 4), _rand(9, 4), _rand(10, 4), np.abs(_rand(11, 4)) + 0.1,
                    name="bn2")
    layers = [conv, bn, ReLU(name="r"), conv_nb, bn2, Flatten(name="f")]
    lin = Linear(_rand(12, 5, 144), None, name="l")
    bn3 = BatchNorm(_rand(13, 5), _rand(14, 5), _rand(15, 5), np.abs(_rand(16, 5)) + 0.1,
                    name="bn3")
    layers += [lin, bn3]
    folded = fold_batchnorm(layers)
    assert [type(f).__name__ for f in folded] == ["Conv2d", "ReLU", "Conv2d", "Flatten",
                                                  "Linear"]
    ref, out = x, x
    for layer in layers:
        ref = layer.forward(ref)
    for layer in folded:
        out = layer.forward(out)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # the originals are untouched
    assert conv.weight is not folded[0].weight and lin.bias is None


def test_batchnorm_not_after_weighted_layer_stays():
    bn = BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), name="bn")
    folded = fold_batchnorm([ReLU(name="r"), bn])
    assert isinstance(folded[1], BatchNorm)
    folded = fold_batchnorm([Residual([Linear(np.eye(2), None, name="l"), bn], name="res")])
    assert [type(f).__name__ for f in folded[0].body] == ["Linear"]


def test_bad_layer_arguments():
    with pytest.raises(InvalidParameterError, match="groups"):
        Conv2d(np.ones((3, 1, 3, 3)), groups=2)
    with pytest.raises(InvalidParameterError, match="bias"):
        Linear(np.ones((3, 4)), np.ones(2))
    with pytest.raises(InvalidParameterError, match="finite"):
        Linear(np.array([[np.nan, 1.0]]))
    with pytest.raises(InvalidParameterError, match="expects inputs"):
        Conv2d(np.ones((3, 2, 3, 3))).output_shape((1, 8, 8))
    with pytest.raises(InvalidParameterError, match="finite"):
        Linear(np.ones((2, 2))).forward(np.array([[1.0, math.inf]]))
    with pytest.raises(InvalidParameterError, match="equal shapes"):
        Residual([Linear(np.ones((3, 2)))]).output_shape((2,))
