"""Shared test fixtures: both compute backends, and a scratch directory for outputs.

The property tests (hypothesis) draw the same examples every run, so that a clean checkout
passes or fails the same way each time; with ``CIMSIM_HYPOTHESIS_RANDOM=1`` they (and the slow
fuzz run, ``tests/test_fuzz.py``) draw afresh, to explore, and ``--hypothesis-seed=N`` then
repeats one such draw.
"""

from __future__ import annotations

import os

import matplotlib
import pytest
from hypothesis import settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# No deadline: a per-example wall-clock limit fails on a loaded machine or on a first call
# that compiles a kernel (hypothesis' "unreliable test timings"), not on a wrong result.
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("explore" if os.environ.get("CIMSIM_HYPOTHESIS_RANDOM") == "1"
                      else "repeatable")


@pytest.fixture(params=["numba", "numpy"])
def each_backend(request):
    """Run a test once with the Numba kernels and once with the NumPy reference path."""
    from device_models._jit import use_backend

    with use_backend(request.param):
        yield request.param
