"""One evaluation over many machines: a network's batch sharded over Dask workers.

A programmed chip is a pure function of its configuration and seed: every random number of
programming, faults, drift, ADC mismatch and read noise comes from counter-based streams
(:mod:`device_models.rng`) keyed by the seed, the matrix, the tile and the sample's position.
So a worker does not receive the chip; it receives what the chip was built from (the
uncompiled network, the :class:`~cimsim.hardware.HardwareConfig`, the calibration inputs
and the placement), rebuilds it once per worker process (:meth:`Network.compile`), and runs
its shard of the batch at the shard's own sample positions. Shards start on multiples of
``batch_size``, and each returns its chunks' outputs and counts, which the driver adds in
sample order, exactly as a local :meth:`Network.run` adds its chunks: the logits, accuracy
and every count and energy are the numbers of the local run.

:func:`run_reads` is what :meth:`Network.evaluate` calls with ``client=``.
"""

from __future__ import annotations

import hashlib
import math
import pickle

import numpy as np

from device_models._checks import check_int, check_scalar, fail

__all__ = ["run_reads"]

#: Shards per worker (a worker that finishes early takes another) [-].
SHARDS_PER_WORKER = 2

#: Compiled networks of this worker process, by payload token (one kept: a worker serves one
#: evaluation's chip at a time).
_COMPILED: dict[str, object] = {}


def _shard_bounds(n: int, batch_size: int, n_shards: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in at most ``n_shards`` shards, each starting
    on a multiple of ``batch_size`` (so its chunks are the local run's chunks)."""
    chunks = max(1, math.ceil(n / batch_size))
    per = max(1, math.ceil(chunks / max(1, n_shards)))
    return [(c * batch_size, min(n, (c + per) * batch_size)) for c in range(0, chunks, per)]


def _payload(net) -> bytes:
    """What a worker rebuilds the chip from: the uncompiled network, the hardware, the
    calibration inputs and the placement (pickled)."""
    from .network import Network

    hw, x_cal, placement = net._compile_inputs
    clone = Network(net.layers, net.input_shape, name=net.name, calibration=net.calibration,
                    metadata=net.metadata)
    return pickle.dumps((clone, hw, x_cal, placement), protocol=pickle.HIGHEST_PROTOCOL)


def _compiled(token: str, payload: bytes):
    """The compiled network of ``payload`` in this worker process (built on first use)."""
    net = _COMPILED.get(token)
    if net is None:
        clone, hw, x_cal, placement = pickle.loads(payload)
        clone.compile(hw, x_cal, placement=placement)
        _COMPILED.clear()
        _COMPILED[token] = net = clone
    return net


def _run_shard(token: str, payload: bytes, x: np.ndarray, first: int, t_s: float, read: int,
               batch_size: int):
    """Worker task: the chunks of samples ``first …`` of read ``read`` at ``t_s``, and (for the
    shard at sample 0) the per-read counts of compensation and refresh."""
    net = _compiled(token, payload)
    chunks = net._run_chunks(x, t_s, batch_size, read, first=first)
    counts = net._read_counts(t_s, read) if first == 0 else None
    return chunks, counts


def run_reads(net, x: np.ndarray, times: list[float], batch_size: int, client) -> list[tuple]:
    """Run the compiled ``net`` on ``x`` at each read time over the workers of ``client``.

    Parameters
    ----------
    net : Network
        A compiled network (not wrapped by :meth:`Network.wrap_analog_matrices`).
    x : ndarray
        Inputs ``(N, *input_shape)``.
    times : list of float
        Read times [s]; read ``k`` is the ``k``-th (fresh read noise, as in
        :meth:`Network.evaluate`).
    batch_size : int
        Samples per chunk (shards start on its multiples).
    client : distributed.Client
        The cluster.

    Returns
    -------
    list of (chunks, compensation counts, refresh counts)
        Per read: the chunks of :meth:`Network._run_chunks` over all samples in order, and
        the per-layer counts of :meth:`Network._read_counts`.
    """
    from distributed import Client

    from .network import Network

    caller = "run_reads"
    if not isinstance(client, Client):
        fail("client", caller, "a distributed.Client (or None)", client)
    if not isinstance(net, Network):
        fail("net", caller, "a compiled Network", net)
    x = net._check_x(x, caller, nonempty=True)
    batch_size = check_int("batch_size", batch_size, caller, lo=1)
    times = [check_scalar("t_s", t, caller, lo=0.0) for t in times]
    if net._compile_inputs is None or net._wrapped:
        fail("net", caller, "a network compiled by Network.compile and not wrapped (workers "
             "rebuild the chip from its compile inputs)", net)
    if net.sharded:
        fail("net", caller, "a network whose matrices are local (one compiled with "
             "compile(client=...) runs its sharded matrices on the workers already: evaluate "
             "it without client=)", net)
    payload = _payload(net)
    token = hashlib.sha256(payload).hexdigest()
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    bounds = _shard_bounds(len(x), batch_size, SHARDS_PER_WORKER * n_workers)
    # a key of its own (hash=False): a second evaluation of the same chip scattering the same
    # bytes under their content key can race the release of the first one's and lose them
    payload_f = client.scatter(payload, broadcast=True, hash=False)
    futures = [[client.submit(_run_shard, token, payload_f, x[a:b], a, t, k, batch_size,
                              pure=False) for a, b in bounds]
               for k, t in enumerate(times)]
    out = []
    for per_read in futures:
        results = client.gather(per_read)
        chunks = [c for shard, _ in results for c in shard]
        comp, refresh = results[0][1]
        out.append((chunks, comp, refresh))
    return out
