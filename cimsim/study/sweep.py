"""Parameter sweeps: a TOML spec → validated point configs → Dask workers → one HDF5 file.

A sweep spec is a TOML file::

    [sweep]
    job = "adc_enob"          # a registered job (see jobs()) or "package.module:function"
    seed = 0                  # seed of random sampling and of per-point seeds
    seeding = "shared"        # "shared": every point uses the hardware seed as configured
                              # (common random numbers); "per_point": seed derived from the
                              # point index
    [base]                    # HardwareConfig fields (its dict form), e.g.
    temperature_k = 300.0
    [base.tile]
    adc_bits = 8
    [card]                    # value overrides of the device card (also [adc_card] ...)
    read_noise_rel = 0.02
    [options]                 # options of the job
    n_samples = 4096

    [grid]                    # cartesian product, first field varies slowest
    "tile.adc_bits" = [4, 6, 8]
    "temperature_k" = [250.0, 300.0, 350.0]

or, instead of ``[grid]``, an explicit list ``[[list]]`` of assignments, or a seeded random
sample::

    [random]
    samples = 16
    "tile.adc_bits" = { choices = [4, 6, 8] }
    "t_s" = { low = 1.0, high = 1e6, log = true }
    "tile.rows" = { low = 64, high = 512, integer = true }

A field path is a dotted path into :class:`~cimsim.hardware.HardwareConfig` (``"t_s"``,
``"tile.adc_bits"``), a card value (``"card.<field>"`` for the device card,
``"adc_card.<field>"``, ``"dac_card.<field>"``, ``"tech_card.<field>"``) or a job option
(``"options.<name>"``). A card value path makes the point's card a value,
``card.replace(field=value)`` (:class:`~device_models.cards.Card`), held by the point's
hardware config: no card file is written. Every point's configuration is built and validated
before anything runs: a bad field name or value raises
:class:`~device_models.errors.ConfigError` / :class:`~device_models.errors.CardError` naming the
field and the point. A spec of more than ``max_points`` points (default 100 000; ``cimsim sweep
--max-points``) is refused before it is expanded; points are computed from their index on
demand.

The sweep file records every card the points use (values, units, SHA-256, source file); a
resume whose cards differ from those recorded is refused, so one file never mixes card
versions.

A job is a function ``job(config: PointConfig) -> dict`` of scalar metrics (nested dicts are
flattened to dotted names). Points are keyed and seeded by their index, so results do not
depend on the number of workers, the completion order or an interruption and resume.

Execution (:func:`run_sweep`): a Dask ``LocalCluster`` of single-threaded worker processes by
default, an existing cluster by scheduler address, or in-process (``workers=0``, or when
``dask.distributed`` is not installed) with the same store. Each finished point is written to
the HDF5 store (:mod:`cimsim.study.store`) durably before it is reported done; rerunning the same
spec on the same file resumes, skipping finished points. At most one point runs per alive worker
thread; a point whose worker died while running it alone is retried up to ``max_attempts`` times,
points failed together by one worker death are not charged but rerun one at a time, and every
point is recorded exactly once.
"""

from __future__ import annotations

from .builtin_jobs import AdcEnobOptions, DemoOptions, DeviceArrayOptions
from .jobs import Job, get_job, jobs, register_job
from .point import CARD_FIELDS, PointConfig
from .runner import execute_point, run_sweep
from .spec import SweepSpec
from .store import load

__all__ = [
    "CARD_FIELDS",
    "AdcEnobOptions",
    "DemoOptions",
    "DeviceArrayOptions",
    "Job",
    "PointConfig",
    "SweepSpec",
    "execute_point",
    "get_job",
    "jobs",
    "load",
    "register_job",
    "run_sweep",
]
