"""Shared test fixtures: both compute backends, and a scratch directory for outputs."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(params=["numba", "numpy"])
def each_backend(request):
    """Run a test once with the Numba kernels and once with the NumPy reference path."""
    from device_models._jit import use_backend

    with use_backend(request.param):
        yield request.param
