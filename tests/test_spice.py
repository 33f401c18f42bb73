"""Circuit checks against SPICE (ngspice): crossbar solver, 1T1R cell, MOSFET card.

Each test writes a netlist, runs ``ngspice -b`` and compares its operating points with
cimsim's models:

* the crossbar solver (:func:`cimsim.crossbar.column_currents`) for linear cells and for sinh
  cells (a B-source ``I = g v0 sinh(V/v0)`` per cell) with row and column wire resistance, in
  the contract's geometry (row wires driven at column 0, column wires to virtual ground after
  the last row);
* the 1T1R cell (:func:`device_models.solve_1t1r`): exactly, with the card's EKV law written as
  a B-source, and against the MOSIS T16X BSIM3 transistor its card stands in for;
* the MOSFET card ``mosis2001_tsmc180_nmos`` in weak and moderate inversion against the
  BSIM3v3.1 card it was derived from (``tests/data/mosis_t16x_nmos.lib``): subthreshold swing,
  off current, current at fixed V_GS from 250 to 400 K, and DIBL from low and high V_DS.

ngspice is a Debian package (``apt-get install ngspice``; ``.ci/run`` installs it). Without it
every test here is skipped with that reason.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cimsim.array.crossbar import column_currents
from device_models import SinhIV, cards
from device_models.mosfet import ekv_params, mosfet_current
from device_models.one_t_one_r import solve_1t1r

NGSPICE = shutil.which("ngspice")
pytestmark = pytest.mark.skipif(
    NGSPICE is None, reason="ngspice not installed (apt-get install ngspice; .ci/run does)")

BSIM3_LIB = Path(__file__).parent / "data" / "mosis_t16x_nmos.lib"
#: The card's mask biases XL = -0.02 um and XW = -0.01 um: ngspice's BSIM3 version 3.1 does
#: not read them, so instances take them in their drawn size (L + XL, W + XW) [m].
XL_M, XW_M = -0.02e-6, -0.01e-6
#: Solver tolerances given to ngspice (its defaults are 1e-3 relative).
_OPTIONS = ".options reltol=1e-9 abstol=1e-18 vntol=1e-12 gmin=1e-30\n"
_NUMBER = re.compile(r"^\s*(\S+)\s*=\s*([-+0-9.eE]+)\s*$")


def _run(netlist: str, tmp_path: Path, name: str = "circuit") -> str:
    path = tmp_path / f"{name}.cir"
    path.write_text(netlist)
    out = subprocess.run([NGSPICE, "-b", str(path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    # ngspice -b exits 1 after a .control block even when it ran ("no simulations run" refers
    # to the netlist's own analysis lines), so success is judged by the values it printed.
    assert "error" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    return out.stdout


def _op(body: str, probes: list[str], tmp_path: Path) -> dict[str, float]:
    """Operating point of ``body``: the printed value of every probe expression."""
    control = "\n".join(["set numdgt=12", "op"] + [f"print {p}" for p in probes])
    text = _run(f"* cimsim check\n{_OPTIONS}{body}\n.control\n{control}\n.endc\n.end\n",
                tmp_path)
    values = {}
    for line in text.splitlines():
        m = _NUMBER.match(line)
        if m:
            values[m.group(1).lower()] = float(m.group(2))
    missing = [p for p in probes if p.lower() not in values]
    assert not missing, f"ngspice printed no value for {missing}:\n{text}"
    return {p: values[p.lower()] for p in probes}


# --- crossbar -------------------------------------------------------------------------------


def _crossbar_netlist(g_s, v_rows, r_row, r_col, v0_v=None) -> str:
    """Contract geometry: row i driven at column 0 through one segment, one segment between
    cells; column j to ground (0 V source vm<j>) through one segment after the last row."""
    rows, cols = g_s.shape
    lines = []
    for i in range(rows):
        lines.append(f"vr{i} d{i} 0 {float(v_rows[i])!r}")
        lines.append(f"rr{i}_0 d{i} r{i}_0 {r_row!r}")
        for j in range(1, cols):
            lines.append(f"rr{i}_{j} r{i}_{j - 1} r{i}_{j} {r_row!r}")
    for j in range(cols):
        for i in range(rows - 1):
            lines.append(f"rc{i}_{j} c{i}_{j} c{i + 1}_{j} {r_col!r}")
        lines.append(f"rc{rows - 1}_{j} c{rows - 1}_{j} e{j} {r_col!r}")
        lines.append(f"vm{j} e{j} 0 0")
    for i in range(rows):
        for j in range(cols):
            g = float(g_s[i, j])
            if v0_v is None:
                lines.append(f"rg{i}_{j} r{i}_{j} c{i}_{j} {1.0 / g!r}")
            else:
                lines.append(f"b{i}_{j} r{i}_{j} c{i}_{j} "
                             f"I = {g * v0_v!r} * sinh(v(r{i}_{j}, c{i}_{j}) / {v0_v!r})")
    return "\n".join(lines)


@pytest.mark.parametrize("v0_v", [None, 0.25], ids=["linear", "sinh"])
def test_crossbar_solver_equals_spice(tmp_path, v0_v):
    rng = np.random.default_rng(7)
    rows, cols = 5, 4
    g = rng.uniform(5e-6, 1e-4, size=(rows, cols))
    r_row, r_col = 40.0, 25.0  # large wires: IR drop of several percent
    v = rng.uniform(0.1, 0.6, size=(2, rows))
    cell = None if v0_v is None else SinhIV(v0_v=v0_v)
    sim = column_currents(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
    ideal = column_currents(g, v, cell=cell)
    assert np.max(np.abs(sim / ideal - 1)) > 1e-3  # the wires matter in this check
    for b in range(len(v)):
        net = _crossbar_netlist(g, v[b], r_row, r_col, v0_v)
        probes = [f"i(vm{j})" for j in range(cols)]
        spice = _op(net, probes, tmp_path)
        # i(vm) is the current entering the source's + node, i.e. flowing out of the column.
        ref = np.array([spice[p] for p in probes])
        np.testing.assert_allclose(sim[b], ref, rtol=1e-7, atol=1e-15)


# --- 1T1R -----------------------------------------------------------------------------------


def _ekv_bsource(p, d: str, g: str, s: str) -> str:
    """The EKV drain current of :func:`device_models.mosfet.ekv_scalar` as a B-source
    (NMOS, V_DS >= 0 at the operating points used)."""
    vds = f"v({d},{s})"
    vp = f"((v({g},{s}) - {p.vt0_v!r} + {p.dibl_v_per_v!r} * {vds}) / {p.n!r})"
    sp_f = f"ln(1 + exp({vp} / (2 * {p.ut_v!r})))"
    sp_r = f"ln(1 + exp(({vp} - {vds}) / (2 * {p.ut_v!r})))"
    return (f"I = {p.i_spec_a!r} * ({sp_f} * {sp_f} - {sp_r} * {sp_r}) * "
            f"(1 + {p.clm_per_v!r} * abs({vds}))")


@pytest.mark.parametrize("v_gate_v", [0.3, 0.6, 1.8], ids=["weak", "moderate", "strong"])
def test_1t1r_cell_equals_spice_with_the_same_transistor_law(tmp_path, v_gate_v):
    card = cards.load("yao2020_taox_1t1r")
    p = ekv_params(card.mosfet_card, 300.0, w_m=card.w_m, l_m=card.l_m)
    v0 = card.v0_v
    for v_cell, g in ((0.2, 2e-6), (0.2, 2e-5), (0.8, 2e-5)):
        net = "\n".join([
            f"vbl bl 0 {v_cell!r}",
            f"brram bl x I = {g * v0!r} * sinh(v(bl, x) / {v0!r})",
            f"bfet x gate 0 {_ekv_bsource(p, 'x', 'gate', '0')[2:]}".replace(
                "bfet x gate 0 ", "bfet x 0 I = "),
            f"vg gate 0 {v_gate_v!r}",
        ])
        spice = _op(net, ["i(vbl)", "v(x)"], tmp_path)
        sol = solve_1t1r(card, v_cell, g, v_gate_v=v_gate_v)
        assert float(sol.i_a) == pytest.approx(-spice["i(vbl)"], rel=1e-7, abs=0.0)
        assert float(sol.v_rram_v) == pytest.approx(v_cell - spice["v(x)"], rel=1e-6,
                                                    abs=1e-12)


def test_1t1r_read_against_the_bsim3_transistor(tmp_path):
    """At the read word-line voltage the access transistor is a small series resistance: the
    EKV stand-in and the BSIM3 transistor it stands for give the same cell current to within
    the transistor's share of the drop."""
    card = cards.load("yao2020_taox_1t1r")
    lib = BSIM3_LIB.read_text()
    v0 = card.v0_v
    for g in (2e-6, 2e-5):
        net = "\n".join([
            lib,
            f"vbl bl 0 {card.v_read_v!r}",
            f"brram bl x I = {g * v0!r} * sinh(v(bl, x) / {v0!r})",
            f"m1 x gate 0 0 NMOS W={card.w_m + XW_M!r} L={card.l_m + XL_M!r}",
            f"vg gate 0 {card.v_gate_read_v!r}",
        ])
        spice = _op(net, ["i(vbl)", "v(x)"], tmp_path)
        sol = solve_1t1r(card, card.v_read_v, g)
        drop = spice["v(x)"] / card.v_read_v
        assert drop < 0.02
        assert float(sol.i_a) == pytest.approx(-spice["i(vbl)"], rel=max(2 * drop, 2e-3), abs=0.0)


# --- MOSFET card against its BSIM3 source -----------------------------------------------------

W_M, L_M = 20e-6, 0.18e-6  # the report's WIDE/SHORT 20.0/0.18 devices
TEMPS_K = (250.15, 300.15, 350.15, 400.15)


@pytest.fixture(scope="module")
def bsim3_sweeps(tmp_path_factory):
    """I_D(V_GS) of the BSIM3 card at V_DS = 0.05 and 1.8 V, 250-400 K [A]."""
    tmp = tmp_path_factory.mktemp("bsim3")
    lines = [f"* BSIM3 sweeps\n{_OPTIONS}", BSIM3_LIB.read_text(),
             f"m1 d g 0 0 NMOS W={W_M + XW_M!r} L={L_M + XL_M!r}", "vd d 0 1.8", "vg g 0 0",
             ".control", "set numdgt=12"]
    for t in TEMPS_K:
        tc = t - 273.15
        for tag, vds in (("lo", 0.05), ("hi", 1.8)):
            lines += [f"option temp = {tc!r}", f"alter vd dc = {vds!r}",
                      "dc vg 0 0.8 0.005", f"wrdata {tag}{round(t)}.txt -i(vd)"]
    lines += [".endc", ".end"]
    _run("\n".join(lines), tmp, "sweeps")
    out = {}
    for t in TEMPS_K:
        for tag in ("lo", "hi"):
            d = np.loadtxt(tmp / f"{tag}{round(t)}.txt")
            out[tag, t] = (d[:, 0], d[:, 1])
    return out


def _ekv(card, vgs, vds, t):
    return mosfet_current(vgs, vds, card, w_m=W_M, temperature_k=t)


def _swing_mv(vgs, i_d, lo=0.05, hi=0.2):
    m = (vgs >= lo) & (vgs <= hi)
    return 1e3 / np.polyfit(vgs[m], np.log10(i_d[m]), 1)[0]


def test_mosfet_subthreshold_swing_follows_bsim3(bsim3_sweeps):
    card = cards.load("mosis2001_tsmc180_nmos")
    for t in TEMPS_K:
        for tag, vds in (("lo", 0.05), ("hi", 1.8)):
            vgs, i_ref = bsim3_sweeps[tag, t]
            s_ref = _swing_mv(vgs, i_ref)
            s_ekv = _swing_mv(vgs, _ekv(card, vgs, vds, t))
            assert s_ekv == pytest.approx(s_ref, rel=0.02), (t, vds, s_ekv, s_ref)


def test_mosfet_off_current_follows_bsim3(bsim3_sweeps):
    card = cards.load("mosis2001_tsmc180_nmos")
    vgs, i_ref = bsim3_sweeps["hi", 300.15]
    i_ekv = float(_ekv(card, 0.0, 1.8, 300.15))
    assert abs(math.log10(i_ekv / i_ref[0])) < 0.1, (i_ekv, i_ref[0])


@pytest.mark.parametrize("vgs_v", [0.15, 0.3, 0.45], ids=["weak", "weak-moderate", "moderate"])
def test_mosfet_current_at_fixed_vgs_across_temperature(bsim3_sweeps, vgs_v):
    """250-400 K at V_DS = 0.05 V: the decades the EKV card is off stay within 0.1 (weak) and
    0.15 (moderate inversion, where the BSIM3 mobility and series-resistance terms start)."""
    card = cards.load("mosis2001_tsmc180_nmos")
    limit = 0.1 if vgs_v < 0.4 else 0.15
    for t in TEMPS_K:
        vgs, i_ref = bsim3_sweeps["lo", t]
        k = int(np.argmin(np.abs(vgs - vgs_v)))
        off = math.log10(float(_ekv(card, vgs[k], 0.05, t)) / i_ref[k])
        assert abs(off) < limit, (t, vgs_v, off)


def test_mosfet_dibl_follows_bsim3(bsim3_sweeps):
    """DIBL as the V_GS shift at a fixed weak-inversion current (1 nA/um) between V_DS = 0.05
    and 1.8 V, with the low-V_DS factor (1 - exp(-V_DS/U_T)) removed."""
    card = cards.load("mosis2001_tsmc180_nmos")
    i0 = 1e-9 * W_M / 1e-6
    for t in TEMPS_K:
        ut = 8.617333262e-5 * t
        corr = 1.0 - math.exp(-0.05 / ut)
        shifts = []
        for source in ("bsim3", "ekv"):
            v_at = {}
            for tag, vds in (("lo", 0.05), ("hi", 1.8)):
                vgs, i_ref = bsim3_sweeps[tag, t]
                i_d = i_ref if source == "bsim3" else _ekv(card, vgs, vds, t)
                i_d = i_d / (corr if tag == "lo" else 1.0)
                v_at[tag] = float(np.interp(math.log10(i0), np.log10(i_d), vgs))
            shifts.append((v_at["lo"] - v_at["hi"]) / 1.75)
        assert shifts[1] == pytest.approx(shifts[0], rel=0.15), (t, shifts)
