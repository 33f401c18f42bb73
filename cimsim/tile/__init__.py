"""One tile MVM, one stage per module in data order: input encoding (:mod:`.encode`), the
programmed array state (:mod:`.state`), column read-out and ADCs (:mod:`.readout`), and the
weight matrix spread over tiles (:mod:`.matrix`).
"""
