"""One tile MVM, one stage per module in data order.

1. :mod:`.encode` — input encoding: codes and the row drive of every cycle, executing
   :mod:`device_models.encoding`;
2. :mod:`.state` — the array read: the programmed, aged conductances, wires (``G_eff``), the
   signal and read-noise matrices;
3. :mod:`.frontend` — the column front end (charge integrator or TIA of
   :mod:`device_models.frontend`) and its range calibration;
4. :mod:`.readout` — read noise, SAR ADCs (:mod:`device_models.adc`) and shift-add;

and :mod:`.matrix`, the weight matrix spread over tiles (:class:`~.matrix.AnalogMatrix`), which
runs the stages.
"""
