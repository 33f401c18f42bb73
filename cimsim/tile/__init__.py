"""One tile MVM, one stage per module in data order.

1. :mod:`.encode` — input encoding: codes and the row drive of every cycle, executing
   :mod:`device_models.encoding`;
2. :mod:`.cells` — the array read: the cell law times the wires, on the programmed and aged
   array of :mod:`.state` (programmed for the law of :mod:`.laws`), with the read-noise
   variance of :mod:`.variance`;
3. :mod:`.frontend` — the column front end (charge integrator or TIA of
   :mod:`device_models.frontend`) and its range calibration;
4. :mod:`.readout` — read noise, SAR ADCs (:mod:`device_models.adc`) and shift-add;

and :mod:`.matrix`, the weight matrix spread over tiles (:class:`~.matrix.AnalogMatrix`), which
runs the stages.
"""
