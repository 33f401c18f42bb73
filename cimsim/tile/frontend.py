r"""Column front end of a tile: the circuit between a column and its ADC, and its range.

Each signal column feeds a charge integrator (``TileConfig.front_end = "integrator"``, every
input encoding) or a transimpedance amplifier (``"tia"``, voltage-coded inputs only: a TIA
samples the current at one instant and cannot read a value carried in time), the circuits of
:mod:`device_models.frontend`:

.. math:: V = \frac{V_\mathrm{FS}}{2} + \frac{t_\mathrm{read}}{C_\mathrm{int}}\,\bar I
          \quad\text{or}\quad V = \frac{V_\mathrm{FS}}{2} + R_f\,I \quad [V]

or, for a read-out that takes a current (``"mirror"``: a current-mode sense amplifier or a
CCO ADC, :mod:`device_models.converters`), a calibrated current mirror
:math:`I_\mathrm{out} = I_\mathrm{FS}/2 + r\,I` onto the read-out's range
:math:`[0, I_\mathrm{FS}]` (:class:`device_models.frontend.CurrentMirror`).

(:math:`\bar I` the mean column current over the window, the integrated charge over
:math:`t_\mathrm{read}`; a signed column signal centred at mid-range). Calibration sets the
gain so that the calibration signals fill the ADC range: the full-scale current
:math:`I_\mathrm{fs}` is :func:`device_models.frontend.calibrate_range` of the noise-free
:math:`|I|` (``adc_calibration``, ``adc_percentile``; per column or pooled over the tile,
``adc_range``), and :math:`C_\mathrm{int}` (or :math:`R_f`) maps :math:`\pm I_\mathrm{fs}` onto
:math:`[0, V_\mathrm{FS}]` (:meth:`device_models.frontend.ChargeIntegrator.for_range`). A
column with no calibration signal gets the current of one fully driven cell,
:math:`V_\mathrm{read}(G_\mathrm{max} - G_\mathrm{min})`.

The circuit's own noise at ``temperature_k`` (:func:`noise_a2`: the integrator's reset
kT/C, the TIA's feedback-resistor Johnson noise over the read bandwidth
:math:`\Delta f = 1/(2t_\mathrm{read})`, the tile's bandwidth of the cells' white noise)
joins the column's read noise (``read_noise``), in current units:

.. math:: \sigma^2_{fe} = k_B T\,C_\mathrm{int}/t_\mathrm{read}^2
          \quad\text{or}\quad \sigma^2_{fe} = 4 k_B T\,\Delta f/R_f \quad [A^2]

(no correlated double sampling; a level-crossing series does not reset its integrators
between steps, so its reset noise is drawn once per series; a matrix whose column currents go
to analog consumers, :meth:`~cimsim.tile.matrix.AnalogMatrix.use_analog_output`, hands them
over without this front end).

The read-out (:mod:`cimsim.tile.readout`) applies the gain in ADC LSBs per ampere,
:math:`R/\mathrm{LSB} = r/I_\mathrm{LSB} = 2^{N-1}/I_\mathrm{fs}` (the same for every
front end).

References
----------
.. [1] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
   phase-change memory for deep neural network inference", Nature Electronics 6, 680-693
   (2023). doi:10.1038/s41928-023-01010-1 (column integrators, per-column ADC range
   calibration).
.. [2] A. Shafiee et al., "ISAAC", ISCA 2016. doi:10.1145/3007787.3001139 (integrating
   sample-and-hold between the column and the shared ADC).
"""

from __future__ import annotations

import numpy as np

from device_models.frontend import ChargeIntegrator, CurrentMirror, Tia, calibrate_range

__all__ = ["calibrate", "gain_lsb_per_a", "noise_a2"]


def calibrate(tile, signal_a: np.ndarray) -> np.ndarray:
    """Calibrate the front end of ``tile`` from noise-free calibration signals.

    Sets ``tile.i_fs_a`` (full-scale current per signal column [A]) and ``tile.front_end``
    (the :class:`~device_models.frontend.ChargeIntegrator` or
    :class:`~device_models.frontend.Tia`, one gain per signal column).

    Parameters
    ----------
    tile : cimsim.tile.state.Tile
        The tile (its hardware config, mapping and ADCs).
    signal_a : ndarray (samples, n_signal)
        Noise-free column signals over calibration vectors and cycles [A].

    Returns
    -------
    ndarray (n_signal,)
        Front-end gain in ADC LSBs per ampere [1/A].
    """
    tc = tile.hw.tile
    m = tile.mapping
    axis = 0 if tc.adc_range == "per_column" else None
    floor = tc.v_read_v * (m.g_max_s - m.g_min_s)
    i_fs = calibrate_range(signal_a, tc.adc_calibration, tc.adc_percentile, axis=axis,
                           floor=floor)
    i_fs = np.ascontiguousarray(np.broadcast_to(i_fs, (tile.n_signal,)), dtype=np.float64)
    fs = tile.adcs.full_scale
    if tc.front_end == "tia":
        circuit = Tia.for_range(i_fs, fs, signed=True)
    elif tc.front_end == "mirror":
        circuit = CurrentMirror.for_range(i_fs, fs, signed=True)
    else:
        circuit = ChargeIntegrator.for_range(i_fs, fs, tc.t_read_s, signed=True)
    tile.i_fs_a = i_fs
    tile.front_end = circuit
    return gain_lsb_per_a(circuit, tile.adcs.lsb)


def gain_lsb_per_a(circuit, lsb: float) -> np.ndarray:
    """Gain of a front-end circuit in read-out LSBs per ampere of column current [1/A]:
    transimpedance over the LSB in volts, or a mirror's current gain over the LSB in
    amperes."""
    g = circuit.gain if isinstance(circuit, CurrentMirror) else circuit.gain_ohm
    return np.asarray(g, dtype=np.float64) / float(lsb)


def noise_a2(tile) -> np.ndarray:
    """The calibrated front end's own noise of ``tile`` per signal column, referred to the
    column current at ``hw.temperature_k`` (module docstring) [A²], shape (n_signal,)."""
    hw = tile.hw
    var = tile.front_end.input_noise_a2(hw.temperature_k, 0.5 / hw.tile.t_read_s)
    return np.ascontiguousarray(np.broadcast_to(var, (tile.n_signal,)), dtype=np.float64)
