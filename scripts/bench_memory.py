"""Memory of a large matrix on the default chip (plugin of scripts/bench.py).

``analog_matrix_8192``: an 8192×8192 :class:`~cimsim.tile.matrix.AnalogMatrix` on
``HardwareConfig()`` as shipped (tile.cell ``"linear"``): construction (mapping, programming,
ADCs), ``calibrate`` on 1,024 vectors and one ``matmul`` of 1,024 vectors, run in a fresh
process. ``peak_bytes_per_weight`` is the process's peak resident memory during those three
steps less its resident memory before them (the weights and inputs, already in memory, are not
counted), over the number of weights. ``ratio_vs_numpy_gemm`` is the float32 GEMM of the same
shapes over the ``matmul``. ``python scripts/bench_memory.py N`` measures an N×N matrix
alone (e.g. 4096 before the 8192 case: the latter needs a few GB).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import BenchContext, register

_CHILD = r"""
import json, time, resource
import numpy as np

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

n, batch = {n}, {batch}
from cimsim.hardware import HardwareConfig
from cimsim.tile.matrix import AnalogMatrix
rng = np.random.default_rng(0)
w = rng.standard_normal((n, n)) / np.sqrt(n)
x = rng.standard_normal((batch, n))
hw = HardwareConfig().replace_path("tile.cell", "linear")
# warm the kernels on a small matrix (compilation memory is not the matrix's)
AnalogMatrix(w[:64, :64], hw).calibrate(x[:8, :64]).matmul(x[:8, :64])
base = rss("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")          # reset the peak (VmHWM) to the current resident size
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
m = AnalogMatrix(w, hw)
t1 = time.perf_counter()
after_build = rss("VmRSS")
peak_build = rss("VmHWM")
m.calibrate(x)
t2 = time.perf_counter()
peak_cal = rss("VmHWM")
y, _ = m.matmul(x)
t3 = time.perf_counter()
peak = rss("VmHWM")
out = dict(n=n, batch=batch, base_rss=base, after_build_rss=after_build, peak_rss=peak,
           peak_build_rss=peak_build, peak_calibrate_rss=peak_cal, after_matmul_rss=rss("VmRSS"),
           peak_reset=reset, construct_s=t1 - t0, calibrate_s=t2 - t1, matmul_s=t3 - t2,
           n_tiles=m.n_tiles)
del m, y
a = rng.standard_normal((batch, n)).astype(np.float32)
b = rng.standard_normal((n, n)).astype(np.float32)
a @ b
ts = []
for _ in range(3):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
out["gemm_time_s"] = min(ts)
print("RESULT" + json.dumps(out))
"""


def measure(n: int, batch: int = 1024) -> dict:
    """Run the measurement of an ``n``×``n`` matrix in a fresh process; returns its fields."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(n=int(n), batch=int(batch))],
                          capture_output=True, text=True, cwd=root, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory bench child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(lines[-1][len("RESULT"):])
    weights = n * n
    res["peak_bytes"] = res["peak_rss"] - res["base_rss"]
    res["peak_bytes_per_weight"] = res["peak_bytes"] / weights
    for what in ("after_build", "peak_build", "peak_calibrate", "after_matmul"):
        res[f"{what}_bytes_per_weight"] = (res[f"{what}_rss"] - res["base_rss"]) / weights
    res["construct_bytes_per_weight"] = res["after_build_bytes_per_weight"]
    return res


@register("analog_matrix_8192",
          "8192x8192 AnalogMatrix on the default chip: peak bytes per weight (build, "
          "calibrate, one matmul of 1024 vectors)", last=True)
def bench_matrix_memory(ctx: BenchContext) -> list[dict]:
    n = 512 if ctx.quick else 8192
    batch = 16 if ctx.quick else 1024
    r = measure(n, batch)
    rec = ctx.record("analog_matrix_8192", r["matmul_s"], (batch, n, n), r["gemm_time_s"],
                     rows=n, cols=n, batch=batch, n_tiles=r["n_tiles"],
                     peak_bytes_per_weight=r["peak_bytes_per_weight"],
                     construct_bytes_per_weight=r["construct_bytes_per_weight"],
                     peak_bytes=r["peak_bytes"], construct_s=r["construct_s"],
                     calibrate_s=r["calibrate_s"], matmul_s=r["matmul_s"],
                     peak_build_bytes_per_weight=r["peak_build_bytes_per_weight"],
                     peak_calibrate_bytes_per_weight=r["peak_calibrate_bytes_per_weight"],
                     after_matmul_bytes_per_weight=r["after_matmul_bytes_per_weight"],
                     peak_reset=r["peak_reset"])
    return [rec]


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 8192), indent=1))
