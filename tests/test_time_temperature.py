"""Time and temperature through a whole run: one programmed chip read at several times."""

from __future__ import annotations

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split
from cimsim.nn.network import Evaluation
from device_models.errors import InvalidParameterError

N_IMG = 48


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d["x_test"][:N_IMG], d["y_test"][:N_IMG]


def _pcm_net(**changes):
    net = load_bundled("digits_cnn_relu")
    net.compile(HardwareConfig(device_card="joshi2020_pcm", **changes))
    return net


def test_time_series_is_one_chip_read_at_each_time(digits):
    x, y = digits
    net = _pcm_net()
    times = [20.0, 86400.0, 3.15e7]
    g_day = [t.conductances(86400.0).copy() for ams in net._analog.values() for am in ams
             for t in am.tiles]
    evs = net.evaluate(x, y, t_s=times)
    assert isinstance(evs, list) and len(evs) == 3
    assert all(isinstance(e, Evaluation) for e in evs)
    assert [e.t_s for e in evs] == times
    single = net.evaluate(x, y, t_s=times[0])
    assert single.analog_accuracy == evs[0].analog_accuracy
    assert single.counts == evs[0].counts
    # the devices (drift exponents, programming, faults) are the same at every read
    g_again = [t.conductances(86400.0) for ams in net._analog.values() for am in ams
               for t in am.tiles]
    for a, b in zip(g_day, g_again, strict=True):
        np.testing.assert_array_equal(a, b)
    # PCM conductances fall with time, so the cell read energy does too
    e_read = [sum(c.cell_read_energy_j for c in e.counts.values()) for e in evs]
    assert e_read[0] > e_read[1] > e_read[2]


def test_every_read_draws_fresh_noise(digits):
    x, _ = digits
    net = _pcm_net()
    a0 = net.run(x, t_s=100.0, read=0)
    np.testing.assert_array_equal(a0, net.run(x, t_s=100.0, read=0))
    a1 = net.run(x, t_s=100.0, read=1)
    assert not np.array_equal(a0, a1)
    quiet = _pcm_net(read_noise=False, converter_noise=False)
    np.testing.assert_array_equal(quiet.run(x, t_s=100.0, read=0),
                                  quiet.run(x, t_s=100.0, read=1))


def test_time_series_bad_input(digits):
    x, y = digits
    net = _pcm_net()
    with pytest.raises(InvalidParameterError, match="t_s"):
        net.evaluate(x, y, t_s=[])
    with pytest.raises(InvalidParameterError, match="t_s"):
        net.evaluate(x, y, t_s=[1.0, -1.0])
    with pytest.raises(InvalidParameterError, match="read"):
        net.run(x, read=-1)
