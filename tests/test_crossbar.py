"""Crossbar IR-drop solver: against an independent dense nodal solve, KCL, limits, monotonicity.

Reference kinds (STYLE.md §7): (b) an independent dense implementation written here from the
DESIGN.md netlist description, solved with ``numpy.linalg.solve`` / a dense Newton loop;
(c) invariants (KCL, r → 0 limit, monotonicity in r, small-signal limit of sinh cells).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cimsim.array import crossbar as cb
from device_models import InvalidParameterError, LinearIV, SinhIV, UnknownNameError


# ----------------------------------------------------------------- independent dense netlist
def dense_netlist(rows, cols, r_row, r_col):
    """Node list and resistor list of the DESIGN.md crossbar, built element by element.

    Nodes: ('r', i, j) row-wire node at cell (i, j); ('c', i, j) column-wire node. Returns the
    node index map, the wire resistors [(a, b, conductance)] with b = 'drv i' / 'gnd' for the
    driver and ground ends, and the cell list [(row node, col node, i, j)].
    """
    idx = {}
    for i in range(rows):
        for j in range(cols):
            idx[("r", i, j)] = len(idx)
    for i in range(rows):
        for j in range(cols):
            idx[("c", i, j)] = len(idx)
    wires = []
    for i in range(rows):
        wires.append((("r", i, 0), ("drv", i), 1.0 / r_row))
        for j in range(cols - 1):
            wires.append((("r", i, j), ("r", i, j + 1), 1.0 / r_row))
    for j in range(cols):
        for i in range(rows - 1):
            wires.append((("c", i, j), ("c", i + 1, j), 1.0 / r_col))
        wires.append((("c", rows - 1, j), ("gnd",), 1.0 / r_col))
    cells = [(("r", i, j), ("c", i, j), i, j) for i in range(rows) for j in range(cols)]
    return idx, wires, cells


def dense_solve(g, v, r_row, r_col, cell=None, iters=60):
    """Node voltages and column currents by a dense (Newton) solve; v is one vector (rows,)."""
    rows, cols = g.shape
    idx, wires, cells = dense_netlist(rows, cols, r_row, r_col)
    n = len(idx)

    def known(node):
        if node[0] == "drv":
            return v[node[1]]
        return 0.0

    def kcl(x):
        f = np.zeros(n)
        jac = np.zeros((n, n))
        for a, b, gw in wires:
            ia = idx[a]
            if b in idx:
                ib = idx[b]
                cur = gw * (x[ia] - x[ib])
                f[ia] += cur
                f[ib] -= cur
                jac[ia, ia] += gw
                jac[ib, ib] += gw
                jac[ia, ib] -= gw
                jac[ib, ia] -= gw
            else:
                f[ia] += gw * (x[ia] - known(b))
                jac[ia, ia] += gw
        for a, b, i, j in cells:
            ia, ib = idx[a], idx[b]
            dv = x[ia] - x[ib]
            if cell is None:
                cur, d = g[i, j] * dv, g[i, j]
            else:
                cur, d = cell.current_and_derivative(dv, g[i, j])
            f[ia] += cur
            f[ib] -= cur
            jac[ia, ia] += d
            jac[ib, ib] += d
            jac[ia, ib] -= d
            jac[ib, ia] -= d
        return f, jac

    x = np.zeros(n)
    for _ in range(iters):
        f, jac = kcl(x)
        dx = np.linalg.solve(jac, -f)
        x = x + dx
        if np.max(np.abs(dx)) < 1e-15 * max(np.max(np.abs(v)), 1e-30):
            break
        if cell is None:
            break
    i_out = np.array([x[idx[("c", rows - 1, j)]] / r_col for j in range(cols)])
    vr = np.array([[x[idx[("r", i, j)]] for j in range(cols)] for i in range(rows)])
    vc = np.array([[x[idx[("c", i, j)]] for j in range(cols)] for i in range(rows)])
    return vr, vc, i_out


def _rand(seed, rows, cols, batch=3, g_hi=1e-3, v_hi=0.3):
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, g_hi, (rows, cols))
    v = rng.uniform(-v_hi, v_hi, (batch, rows))
    return g, v


# ----------------------------------------------------------------- linear cells
@pytest.mark.parametrize(
    ("rows", "cols", "r_row", "r_col"),
    [(1, 1, 1.0, 1.0), (4, 3, 2.0, 5.0), (3, 7, 10.0, 1.0), (9, 9, 3.0, 3.0), (17, 13, 1.0, 2.0),
     (1, 6, 4.0, 2.0), (6, 1, 4.0, 2.0)],
)
def test_exact_matches_independent_dense_solve(rows, cols, r_row, r_col):
    g, v = _rand(rows * 100 + cols, rows, cols)
    i = cb.column_currents(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    sol = cb.solve_crossbar(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    geff = cb.effective_conductance(g, r_row, r_col)
    for k in range(v.shape[0]):
        vr, vc, i_ref = dense_solve(g, v[k], r_row, r_col)
        scale = np.max(np.abs(i_ref))
        assert np.max(np.abs(i[k] - i_ref)) <= 1e-9 * scale
        assert np.max(np.abs(sol.column_currents_a[k] - i_ref)) <= 1e-9 * scale
        assert np.max(np.abs(v[k] @ geff - i_ref)) <= 1e-9 * scale
        assert np.allclose(sol.v_row_nodes_v[k], vr, rtol=0, atol=1e-12)
        assert np.allclose(sol.v_col_nodes_v[k], vc, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("r_row", "r_col"), [(0.0, 4.0), (4.0, 0.0), (0.0, 0.0)])
def test_zero_resistance_on_one_wire(r_row, r_col):
    g, v = _rand(7, 6, 5)
    i = cb.column_currents(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    # a tiny resistance on the ideal wire must approach the same answer
    eps_r = (r_row or 1e-9, r_col or 1e-9)
    i_ref = np.stack([dense_solve(g, v[k], *eps_r)[2] for k in range(v.shape[0])])
    assert np.allclose(i, i_ref, rtol=1e-6, atol=0)


def test_kcl_residuals_vanish():
    g, v = _rand(3, 12, 10, batch=2)
    r_row, r_col = 2.5, 4.0
    sol = cb.solve_crossbar(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    vr, vc = sol.v_row_nodes_v, sol.v_col_nodes_v
    i_cell = g * (vr - vc)
    # row wires: current arriving from the driver side minus leaving to the far side = cell
    left = np.concatenate([v[:, :, None], vr[:, :, :-1]], axis=2)
    i_in = (left - vr) / r_row
    i_out = np.concatenate([(vr[:, :, :-1] - vr[:, :, 1:]) / r_row,
                            np.zeros(vr.shape[:2] + (1,))], axis=2)
    scale = np.max(np.abs(i_cell))
    assert np.max(np.abs(i_in - i_out - i_cell)) <= 1e-9 * scale
    # column wires: cell current plus the current from above leaves below
    above = np.concatenate([np.zeros((2, 1, 10)), (vc[:, :-1] - vc[:, 1:]) / r_col], axis=1)
    below = np.concatenate([(vc[:, :-1] - vc[:, 1:]) / r_col, vc[:, -1:] / r_col], axis=1)
    assert np.max(np.abs(i_cell + above - below)) <= 1e-9 * scale
    # total current conservation: drivers deliver exactly what the columns collect
    drive = (v - vr[:, :, 0]) / r_row
    assert np.allclose(drive.sum(axis=1), sol.column_currents_a.sum(axis=1), rtol=1e-10, atol=0.0)


def test_zero_resistance_is_ideal_product():
    g, v = _rand(11, 8, 6)
    assert np.allclose(cb.column_currents(g, v), v @ g, rtol=1e-14, atol=0)
    small = cb.column_currents(g, v, 1e-9)
    assert np.allclose(small, v @ g, rtol=1e-6, atol=1e-15)
    assert np.array_equal(cb.effective_conductance(g, 0.0, 0.0), g)


def test_geff_path_equals_per_vector_solve():
    g, v = _rand(5, 20, 16, batch=5)
    xb = cb.Crossbar(g, 3.0)
    per_vector = xb.solve(v).column_currents_a
    assert np.allclose(xb.column_currents(v), per_vector, rtol=1e-10, atol=0)
    one = xb.column_currents(v[2])
    assert one.shape == (16,)
    assert np.allclose(one, per_vector[2], rtol=1e-10, atol=0.0)
    assert np.allclose(xb.column_currents(v.astype(np.float32)), per_vector, rtol=1e-5, atol=0.0)


def _delivered_power_w(g, v, r_row, r_col):
    """Σ_i V_i · I_driver,i [W]; each row's driver current is the sum of its cell currents."""
    sol = cb.solve_crossbar(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    i_drv = np.sum(g * sol.cell_voltages_v, axis=2)
    return np.sum(v * i_drv, axis=1), sol.column_currents_a


@settings(max_examples=25)
@given(
    rows=st.integers(1, 6), cols=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
    r1=st.one_of(st.just(0.0), st.floats(1e-6, 50.0)), dr=st.floats(1e-6, 50.0),
    row_only=st.booleans(),
)
def test_more_wire_resistance_never_raises_current_or_power(rows, cols, seed, r1, dr, row_only):
    """Rayleigh monotonicity: raising any resistance never raises the power the drivers deliver
    (any inputs), nor, with all rows at the same non-negative voltage, the total column current
    (drivers and grounds then form a two-terminal network). A single column current is not
    monotone in general: see the next test."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.0, 1e-2, (rows, cols))
    v = np.vstack([rng.uniform(0.0, 1.0, (2, rows)), np.full((1, rows), rng.uniform(0, 1))])
    r2 = r1 + dr
    r_col = 1.0 if row_only else None
    p1, i1 = _delivered_power_w(g, v, r1, r_col or r1)
    p2, i2 = _delivered_power_w(g, v, r2, r_col or r2)
    assert np.all(p2 <= p1 * (1 + 1e-12) + 1e-300)
    assert np.all(i2 >= -1e-18)
    assert np.all(i1 <= (v @ g) * (1 + 1e-12) + 1e-300)
    uniform1, uniform2 = i1[2], i2[2]
    assert uniform2.sum() <= uniform1.sum() * (1 + 1e-12) + 1e-300


def test_single_column_current_can_rise_with_wire_resistance():
    """Counterexample (found by hypothesis, confirmed by the dense solve): with unequal row
    voltages a nearly grounded row is a sneak path, and one column current *rises* when the
    wire resistance goes from 4 to 6 ohm. Per-column monotonicity is not a law."""
    rng = np.random.default_rng(0)
    g = rng.uniform(0.0, 1e-2, (2, 4))
    v = rng.uniform(0.0, 1.0, (2, 2))[1]
    lo = cb.column_currents(g, v, 4.0)
    hi = cb.column_currents(g, v, 6.0)
    assert hi[3] > lo[3] * (1 + 1e-6)
    assert np.allclose(hi, dense_solve(g, v, 6.0, 6.0)[2], rtol=1e-9, atol=0.0)
    assert np.allclose(lo, dense_solve(g, v, 4.0, 4.0)[2], rtol=1e-9, atol=0.0)


def test_geff_symmetric_layout_and_positive():
    g, _ = _rand(2, 10, 10, g_hi=1e-2)
    ge = cb.effective_conductance(g, 1.0, 1.0)
    assert np.all(ge > 0)
    # sneak paths can lift a single weak entry above its cell, never a column under uniform drive
    assert np.all(ge.sum(axis=0) <= g.sum(axis=0))
    # uniform array: the cell nearest driver and ground keeps the most, the farthest the least
    ge = cb.effective_conductance(np.full((10, 10), 1e-3), 1.0, 1.0)
    assert ge[-1, 0] == ge.max()
    assert ge[0, -1] == ge.min()


def _geff_by_sparse_solves(g, r_row, r_col):
    """Reference G_eff: the sparse nodal solve (SuperLU) of one unit drive per row."""
    return cb.Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col).solve(
        np.eye(g.shape[0])).column_currents_a


@pytest.mark.parametrize("blas_nodes", [8, 10**9])
@pytest.mark.parametrize(("rows", "cols", "r_row", "r_col"),
                         [(1, 1, 2.0, 3.0), (1, 9, 1.0, 1.0), (11, 1, 1.0, 1.0),
                          (23, 37, 1.0, 2.5), (40, 24, 0.3, 1.0)])
def test_geff_by_merged_schur_complements_equals_sparse_solves(
        each_backend, monkeypatch, blas_nodes, rows, cols, r_row, r_col):
    """The nested-dissection merge (_geff) against per-row solves of the sparse nodal system,
    with the merges on the batched kernel and (blas_nodes = 8) on LAPACK/BLAS."""
    from cimsim.array import _geff

    monkeypatch.setattr(_geff, "BLAS_NODES", blas_nodes)
    g, _ = _rand(rows * 31 + cols, rows, cols, g_hi=2e-2)
    ge = _geff.effective_conductance(g, r_row, r_col)
    ref = _geff_by_sparse_solves(g, r_row, r_col)
    assert np.max(np.abs(ge - ref)) <= 1e-10 * np.max(np.abs(ref))


@pytest.mark.parametrize("block_cells", [1, 6, 64, 10**6])
def test_geff_any_block_size_equals_sparse_solves(monkeypatch, block_cells):
    """Rectangles of up to BLOCK_CELLS cells come from the fused one-pass kernel; any split
    between it and the level-by-level merges gives the same G_eff."""
    from cimsim.array import _geff

    monkeypatch.setattr(_geff, "BLOCK_CELLS", block_cells)
    monkeypatch.setattr(_geff, "BLAS_NODES", 40)
    g, _ = _rand(17, 23, 37, g_hi=2e-2)
    ge = _geff.effective_conductance(g, 1.0, 2.5)
    ref = _geff_by_sparse_solves(g, 1.0, 2.5)
    assert np.max(np.abs(ge - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_geff_panel_merges_equal_sparse_solves_on_any_thread_count(monkeypatch):
    """Large merges split into panels of kept ports (tasks side by side; the driver and
    ground terminals' blocks with themselves skipped): G_eff against the sparse solves, and
    the same bits on 1 and 2 threads."""
    import numba

    from cimsim.array import _geff

    monkeypatch.setattr(_geff, "PANEL", 8)
    monkeypatch.setattr(_geff, "BLAS_NODES", 40)
    monkeypatch.setattr(_geff, "BLOCK_CELLS", 16)
    g, _ = _rand(19, 29, 43, g_hi=2e-2)
    ref = _geff_by_sparse_solves(g, 1.5, 1.0)
    old = numba.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            out.append(_geff.effective_conductance(g, 1.5, 1.0))
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(out[0], out[1])
    assert np.max(np.abs(out[0] - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_geff_block_kernel_equals_its_reference():
    """The fused block kernel against its NumPy reference (cells in closed form, merges on
    LAPACK) for every port pattern, at the driver and ground edges and inside (1e-12)."""
    from cimsim.array import _geff
    from device_models._jit import use_backend

    g, _ = _rand(5, 13, 11, g_hi=1e-2)
    for h, w in [(1, 1), (1, 5), (4, 1), (3, 4), (5, 6)]:
        for right in (False, True):
            for top in (False, True):
                shape = _geff._Shape(h, w, right, top)
                corners = np.array([[0 if top else 13 - h - 1, 0],
                                    [0 if top else 13 - h, 11 - w if right else 3]])
                out = _geff._blocks(g, 1.0, 0.5, shape, corners)
                with use_backend("numpy"):
                    ref = _geff._blocks(g, 1.0, 0.5, shape, corners)
                assert out.shape == ref.shape == (2, len(shape.ports()), len(shape.ports()))
                assert np.max(np.abs(out - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_geff_merge_pattern_equals_the_port_lists():
    """The merge pattern from integer port codes against the ports as tuples: every half's
    port lands where the parent's canonical order (then the shared ports, in the first
    half's order) puts it, for every size and open edge up to 12 x 12."""
    import itertools

    from cimsim.array import _geff

    for h, w, right, top in itertools.product(range(1, 13), range(1, 13), (False, True),
                                              (False, True)):
        if h * w < 2:
            continue
        shape = _geff._Shape(h, w, right, top)
        kind, a, b, off, pos_a, pos_b, n_keep, n_all = _geff._pattern(shape)
        ka = a.ports()
        kb = [(t, i, j + off) if kind == "v" else (t, i + off, j) for t, i, j in b.ports()]
        keep = shape.ports()
        shared = [p for p in ka if p in set(kb)]
        where = {p: k for k, p in enumerate(keep + shared)}
        assert (n_keep, n_all) == (len(keep), len(keep) + len(shared))
        assert pos_a.tolist() == [where[p] for p in ka]
        assert pos_b.tolist() == [where[p] for p in kb]


def test_geff_assembly_kernel_equals_its_reference():
    """Two packed complements added into the lower triangle of a matrix with a padded row
    stride (entry by entry for few ports, run by run from RUN_PORTS on), against the NumPy
    assembly: the same numbers exactly, and the padding and upper triangle untouched; the
    same matrix assembled in row ranges (the panelled merges' tasks)."""
    from cimsim.array import _geff

    rng = np.random.default_rng(7)
    for shape in [_geff._Shape(6, 5, False, False), _geff._Shape(40, 50, False, False),
                  _geff._Shape(50, 40, True, False), _geff._Shape(64, 64, True, True)]:
        _, a, b, _, pos_a, pos_b, _, n_all = _geff._pattern(shape)
        ka, kb = len(a.ports()), len(b.ports())
        sa = rng.standard_normal((ka, ka))
        sb = rng.standard_normal((kb, kb))
        sa, sb = sa + sa.T, sb + sb.T
        ld = _geff._ld(n_all)
        assert ld >= n_all and (ld // 8) % 2 == 1
        m = np.full((n_all, ld), np.pi)
        _geff._assemble_lower_kernel(sa[np.tril_indices(ka)], sb[np.tril_indices(kb)],
                                     pos_a, pos_b, m)
        ref = _geff._assemble(sa, sb, pos_a, pos_b, n_all)
        low = np.tril_indices(n_all)
        assert np.array_equal(m[low], ref[low])
        assert np.all(m[np.triu_indices(n_all, 1)] == np.pi) and np.all(m[:, n_all:] == np.pi)
        parts = np.full((n_all, ld), np.pi)          # row ranges, one at a time
        for r0, r1 in [(0, n_all // 3), (n_all // 3, n_all // 3), (n_all // 3, n_all)]:
            _geff._assemble_rows_kernel(sa[np.tril_indices(ka)], sb[np.tril_indices(kb)],
                                        pos_a, pos_b, parts, r0, r1)
        assert np.array_equal(parts, m)


@settings(max_examples=20)
@given(rows=st.integers(1, 7), cols=st.integers(1, 7), seed=st.integers(0, 2**32 - 1),
       r_row=st.floats(1e-3, 100.0), r_col=st.floats(1e-3, 100.0))
@example(rows=7, cols=1, seed=0, r_row=1.0, r_col=1.0)     # G_eff a strided view of a block
def test_geff_merge_equals_dense_netlist(rows, cols, seed, r_row, r_col):
    """Against the independent dense netlist, one unit drive per row, any shape."""
    from cimsim.array import _geff

    g, _ = _rand(seed, rows, cols, g_hi=1e-2)
    ge = _geff.effective_conductance(g, r_row, r_col)
    ref = np.array([dense_solve(g, np.eye(rows)[i], r_row, r_col)[2] for i in range(rows)])
    assert np.max(np.abs(ge - ref)) <= 1e-9 * np.max(np.abs(ref))


def test_geff_kernels_equal_their_references_and_any_thread_count(monkeypatch):
    """The batched merge and leaf kernels give the NumPy reference's numbers (1e-12), and the
    result has the same bits on 1 and 2 threads (kernel and LAPACK merges alike)."""
    import numba

    from cimsim.array import _geff
    from device_models._jit import use_backend

    g, _ = _rand(3, 48, 80, g_hi=1e-3)
    with use_backend("numpy"):
        ref = _geff.effective_conductance(g, 1.0, 1.0)
    monkeypatch.setattr(_geff, "BLAS_NODES", 60)
    old = numba.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            out.append(_geff.effective_conductance(g, 1.0, 1.0))
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(out[0], out[1])
    assert np.max(np.abs(out[0] - ref)) <= 1e-12 * np.max(np.abs(ref))


# ----------------------------------------------------------------- nonlinear cells
def test_sinh_small_voltage_limit_is_linear():
    g, v = _rand(9, 7, 5)
    v_small = v * 1e-5
    lin = cb.column_currents(g, v_small, 2.0)
    nl = cb.column_currents(g, v_small, 2.0, cell=SinhIV(v0_v=0.25))
    assert np.allclose(nl, lin, rtol=1e-8, atol=0)
    # LinearIV is the ohmic law and takes the linear path
    assert np.allclose(cb.column_currents(g, v, 2.0, cell=LinearIV()),
                       cb.column_currents(g, v, 2.0), rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("method", ["exact", "newton"])
@pytest.mark.parametrize(("rows", "cols", "r_row", "r_col"),
                         [(4, 3, 20.0, 30.0), (5, 5, 50.0, 10.0), (2, 6, 0.0, 40.0),
                          (6, 2, 40.0, 0.0)])
def test_newton_matches_dense_nonlinear_solve(rows, cols, r_row, r_col, method):
    g, v = _rand(rows + 10 * cols, rows, cols, g_hi=2e-3, v_hi=0.6)
    cell = SinhIV(v0_v=0.2)
    sol = cb.solve_crossbar(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell,
                            method=method)
    for k in range(v.shape[0]):
        vr, vc, i_ref = dense_solve(g, v[k], r_row or 1e-12, r_col or 1e-12, cell=cell)
        assert np.allclose(sol.column_currents_a[k], i_ref, rtol=1e-8,
                           atol=1e-9 * np.max(np.abs(i_ref)))
        assert np.allclose(sol.cell_voltages_v[k], vr - vc, rtol=0, atol=1e-9)
    # the nonlinearity matters here: the linear answer is clearly different
    lin = cb.column_currents(g, v, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col)
    assert np.max(np.abs(lin - sol.column_currents_a)) > 1e-3 * np.max(np.abs(lin))


def test_fast_approximation_converges_to_exact():
    g, v = _rand(4, 16, 16, g_hi=1e-3, v_hi=0.25)
    xb = cb.Crossbar(g, 2.0, cell=SinhIV(0.25))
    exact = xb.column_currents(v)
    errs = [np.max(np.abs(xb.column_currents(v, method="fast", n_fast=n) - exact))
            for n in (0, 2, 4, 8)]
    assert errs[0] > errs[1] > errs[2] > errs[3]
    assert errs[3] <= 1e-6 * np.max(np.abs(exact))


def test_newton_failure_is_reported():
    g, v = _rand(4, 4, 4, g_hi=1e-2, v_hi=1.0)
    for method in ("exact", "newton"):
        with pytest.raises(cb.ConvergenceError, match="did not converge"):
            cb.column_currents(g, v, 5.0, cell=SinhIV(0.05), max_iter=1, xtol_v=1e-300,
                               method=method)


def test_exact_and_newton_agree_on_a_mildly_nonlinear_array():
    g, v = _rand(12, 24, 20, g_hi=2e-4, v_hi=0.2)
    xb = cb.Crossbar(g, 1.5, cell=SinhIV(0.25))
    exact = xb.solve(v)
    newton = xb.solve(v, method="newton")
    assert np.allclose(exact.column_currents_a, newton.column_currents_a, rtol=1e-10, atol=0.0)
    assert np.allclose(exact.cell_voltages_v, newton.cell_voltages_v, rtol=0, atol=1e-12)


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"g_s": [[1e-5, -1e-6]]}, "'g_s' parameter of column_currents must be >= 0"),
        ({"g_s": [[1e-5, np.nan]]}, "'g_s' .* finite"),
        ({"g_s": [1e-5, 1e-6]}, "'g_s' .* 2 dimensions"),
        ({"g_s": np.zeros((0, 3))}, "'g_s' .* non-empty"),
        ({"v_rows": [0.1, 0.2, 0.3]}, "'v_rows' .* rows = 2"),
        ({"v_rows": [[0.1, np.inf]]}, "'v_rows' .* finite"),
        ({"r_wire_ohm": -1.0}, "'r_wire_ohm' .* >= 0"),
        ({"r_wire_col_ohm": np.nan}, "'r_wire_col_ohm' .* finite"),
        ({"r_wire_row_ohm": 1e-300}, "'r_wire_row_ohm' .* 0 \\(ideal wire\\) or >= 1e-09"),
        ({"method": "magic", "cell": SinhIV(0.3), "r_wire_ohm": 1.0}, "'method'"),
        ({"cell": "sinh"}, "'cell'"),
    ],
)
def test_bad_input_is_rejected(kwargs, match):
    args = {"g_s": [[1e-5, 2e-5], [3e-5, 4e-5]], "v_rows": [0.1, 0.2]}
    args.update(kwargs)
    with pytest.raises((InvalidParameterError, UnknownNameError), match=match):
        cb.column_currents(**args)


def test_sinh_iv_law():
    law = SinhIV(v0_v=0.25)
    v = np.linspace(-1, 1, 11)
    i, d = law.current_and_derivative(v, 2e-5)
    assert np.allclose(i, 2e-5 * 0.25 * np.sinh(v / 0.25), atol=0.0)
    assert np.allclose(d, 2e-5 * np.cosh(v / 0.25), atol=0.0)
    h = 1e-6
    num = (law.current(v + h, 2e-5) - law.current(v - h, 2e-5)) / (2 * h)
    assert np.allclose(num, d, rtol=1e-7, atol=0.0)
    with pytest.raises(InvalidParameterError, match="'v0_v' parameter of SinhIV"):
        SinhIV(v0_v=0.0)


def test_batched_lu_kernel_matches_superlu(each_backend):
    from cimsim.array._mna import Network, _lu_solve_numpy

    g, _ = _rand(21, 9, 7)
    net = Network(g, 2.0, 3.0)
    factor = net.factorize(g.ravel())
    rhs = np.random.default_rng(0).standard_normal((net.n, 6))
    ref = _lu_solve_numpy(factor.lu, rhs)
    got = factor.solve(rhs)
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-12 * np.max(np.abs(ref)))
    assert np.allclose(net.matrix(g.ravel())[net.order][:, net.order] @ got, rhs, atol=1e-9)


def test_bench_smoke_runs_crossbar_records(capsys):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench_smoke", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_smoke"] = bench  # dataclasses look their module up here
    spec.loader.exec_module(bench)
    names = ["ir_drop_linear_crossbar_mvm", "ir_drop_nonlinear"]
    argv = ["--quick", "--json", "--repeat", "1"] + [a for n in names for a in ("--only", n)]
    assert bench.main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in records} >= set(names)
    for r in records:
        assert np.isfinite(r["ratio_vs_numpy_gemm"]) and r["ratio_vs_numpy_gemm"] > 0
        assert r["ratio_vs_numpy_gemm"] == pytest.approx(r["gemm_time_s"] / r["time_s"])
    nl = next(r for r in records if r["name"] == "ir_drop_nonlinear")
    assert 0 < nl["fast_max_rel_error"] < nl["linear_cell_model_max_rel_error"]
    # a full run does the gigabyte-sized memory record after every other bench
    order = bench.selection()
    assert order[-1] == "analog_matrix_8192" and set(order) == set(bench.REGISTRY)
    assert bench.selection(["analog_matrix_8192", "ir_drop_nonlinear"])[0] == "analog_matrix_8192"


def test_one_t_one_r_cells_follow_the_same_protocol():
    from device_models import cards
    from device_models.one_t_one_r import OneTOneRIV

    card = cards.load("yao2020_taox_1t1r")
    law = OneTOneRIV.from_card(card)
    rng = np.random.default_rng(8)
    g = rng.uniform(card.g_min_s, card.g_max_s, (3, 4))
    v = rng.uniform(0.0, 0.2, (2, 3))
    sol = cb.solve_crossbar(g, v, r_wire_row_ohm=200.0, r_wire_col_ohm=300.0, cell=law)
    for k in range(2):
        _, _, i_ref = dense_solve(g, v[k], 200.0, 300.0, cell=law)
        assert np.allclose(sol.column_currents_a[k], i_ref, rtol=1e-8, atol=0.0)
    fast = cb.column_currents(g, v, r_wire_row_ohm=200.0, r_wire_col_ohm=300.0, cell=law,
                              method="fast", n_fast=8)
    assert np.allclose(fast, sol.column_currents_a, rtol=1e-6, atol=0.0)


def test_edge_cases_empty_batch_and_zero_conductance():
    g = np.full((4, 3), 1e-5)
    assert cb.column_currents(g, np.zeros((0, 4)), 1.0).shape == (0, 3)
    assert cb.column_currents(g, np.zeros((0, 4)), 1.0, cell=SinhIV(0.2)).shape == (0, 3)
    zero = np.zeros((4, 3))
    assert np.array_equal(cb.column_currents(zero, np.full(4, 0.1), 1.0), np.zeros(3))
    assert np.array_equal(cb.effective_conductance(zero, 1.0, 2.0), zero)
    assert cb.cell_voltages(g, [0.1, 0.2, 0.1, 0.0], 2.0).shape == (1, 4, 3)


# --- line relaxation (method="lines") -------------------------------------------------------


@pytest.mark.parametrize("r_row,r_col", [(1.0, 1.0), (5.0, 0.0), (0.0, 3.0), (20.0, 10.0)])
@pytest.mark.parametrize("law", ["sinh", "1t1r"])
def test_line_relaxation_matches_the_exact_solve(each_backend, r_row, r_col, law):
    from device_models.one_t_one_r import OneTOneRIV

    rng = np.random.default_rng(17)
    g = rng.uniform(2e-6, 2e-5, (24, 40))
    v = rng.uniform(-0.2, 0.2, (5, 24))
    cell = SinhIV(0.3) if law == "sinh" else OneTOneRIV.from_card(
        "yao2020_taox_1t1r", v_gate_v=0.6)
    xb = cb.Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
    exact = xb.column_currents(v, method="exact")
    fast = xb.column_currents(v, method="lines", rtol=1e-7)
    scale = np.abs(cell.current(v[:, :, None], g[None])).sum(axis=1)
    assert np.max(np.abs(fast - exact) / scale) < 1e-5
    assert xb.lines_info["table_bound_a"] < 1e-5 * np.max(np.abs(cell.current(0.4, g)))
    assert xb.lines_info["passes"] >= 2


# Configurations of the tolerance test: (rows, cols, r_row, r_col, law, v_lo, seed), from
# weak to strong coupling (r·g·n² up to ~3 with cells up to 50 µS), both wires, either alone,
# sinh cells of several v0, 1T1R cells in moderate and strong inversion, unsigned and signed
# drives. The two strongest configurations contract irregularly from pass to pass.
_LINES_CASES = [
    (24, 40, 1.0, 1.0, ("sinh", 0.3), -0.2, 1),
    (33, 31, 40.5, 45.0, ("sinh", 0.18), 0.0, 2),
    (39, 31, 0.0, 31.9, ("1t1r", 0.6), 0.0, 3),
    (25, 36, 48.7, 35.4, ("sinh", 0.25), -0.3, 4),
    (32, 26, 10.0, 11.1, ("1t1r", 1.0), -0.3, 5),
    (14, 17, 0.0, 47.7, ("sinh", 0.5), 0.0, 6),
    (28, 32, 26.0, 0.0, ("1t1r", 0.5), -0.3, 7),
]


@pytest.mark.parametrize("case", _LINES_CASES)
@pytest.mark.parametrize("rtol", [1e-3, 1e-4])
def test_line_relaxation_error_within_its_tolerance(case, rtol):
    """The stated bound of method='lines': every column current within ``rtol`` of the exact
    solve, relative to the column's current magnitude with ideal wires, and the reported
    estimate (the last change) at most ``rtol``."""
    from device_models.one_t_one_r import OneTOneRIV

    rows, cols, r_row, r_col, (kind, p), v_lo, seed = case
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, 5e-5, (rows, cols))
    v = rng.uniform(v_lo, 0.3, (6, rows))
    cell = SinhIV(p) if kind == "sinh" else OneTOneRIV.from_card("yao2020_taox_1t1r",
                                                                 v_gate_v=p)
    xb = cb.Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
    exact = xb.column_currents(v, method="exact")
    fast = xb.column_currents(v, method="lines", rtol=rtol)
    scale = np.abs(cell.current(v[:, :, None], g[None])).sum(axis=1)
    assert np.max(np.abs(fast - exact) / scale) <= rtol
    assert xb.lines_info["rel_error_est"] <= rtol


@pytest.mark.parametrize("case", _LINES_CASES)
def test_line_relaxation_one_pass_estimate_bounds_its_error(case):
    """A group that stops after one pass (the prior contraction, module docstring of
    cimsim.array._lines) reports an estimate at least its measured error against the exact
    solve."""
    from device_models.one_t_one_r import OneTOneRIV

    rows, cols, r_row, r_col, (kind, p), v_lo, seed = case
    rng = np.random.default_rng(seed + 100)
    g = rng.uniform(1e-6, 5e-5, (rows, cols))
    v = rng.uniform(v_lo, 0.3, (4, rows))
    cell = SinhIV(p) if kind == "sinh" else OneTOneRIV.from_card("yao2020_taox_1t1r",
                                                                 v_gate_v=p)
    xb = cb.Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
    exact = xb.column_currents(v, method="exact")
    scale = np.abs(cell.current(v[:, :, None], g[None])).sum(axis=1)
    for rtol in (3e-2, 1e-2, 3e-3):
        fast = xb.column_currents(v, method="lines", rtol=rtol)
        err = np.max(np.abs(fast - exact) / scale)
        assert 0.0 < xb.lines_info["rho_prior"] < 1.0
        assert err <= max(rtol, xb.lines_info["rel_error_est"]) if xb.lines_info[
            "passes"] > 1 else err <= xb.lines_info["rel_error_est"] <= rtol


def test_line_relaxation_stops_after_one_pass_on_weak_coupling():
    rng = np.random.default_rng(5)
    g = rng.uniform(1e-6, 2e-5, (32, 48))
    v = rng.uniform(-0.2, 0.2, (20, 32))
    xb = cb.Crossbar(g, r_wire_ohm=1.0, cell=SinhIV(0.5))
    exact = xb.column_currents(v, method="exact")
    fast = xb.column_currents(v, method="lines", rtol=1e-3)
    scale = np.abs(SinhIV(0.5).current(v[:, :, None], g[None])).sum(axis=1)
    assert xb.lines_info["passes"] == 1
    assert np.max(np.abs(fast - exact) / scale) <= xb.lines_info["rel_error_est"] <= 1e-3


@pytest.mark.parametrize("r_row,r_col", [(2.0, 1.0), (0.0, 3.0), (4.0, 0.0)])
def test_line_relaxation_linear_reference(each_backend, r_row, r_col):
    """The linear reference of method='lines': its passes are linear in the drives (k passes
    on any drives give v·M_k, M_k formed from rows driven alone), and they converge to the
    exact linear network, v·G_eff, so the corrections G_eff − M_k vanish."""
    from cimsim.array import _lines

    rng = np.random.default_rng(8)
    n_r, n_c, G = 20, 28, _lines.GROUP
    g = rng.uniform(2e-6, 4e-5, (n_r, n_c))
    xb = cb.Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=SinhIV(0.3))
    sol = xb._lines_solver(0.25)
    lin, f32 = sol._lin, np.float32
    v = rng.uniform(-0.25, 0.25, (G, n_r))
    vt = np.ascontiguousarray(v.T, dtype=f32)
    st, tt = np.zeros((n_r, n_c, G), f32), np.zeros((n_r, G), f32)
    wk = np.zeros((n_c, 2, G), f32)
    bt = np.ascontiguousarray(lin._start(v)[1].T, dtype=f32)
    ge = np.asarray(xb.g_eff_s)
    top = np.abs(v).max() * np.abs(ge).sum(axis=0).max()
    for k in range(1, 7):
        ra, rn = np.zeros((n_c, G), f32), np.zeros((n_c, G), f32)
        lin._pass(k == 1, True, vt, st, tt, wk, bt, ra, rn)
        bt = rn
        np.testing.assert_allclose(ra.T, v @ (ge - sol._correction(k)), rtol=0,
                                   atol=1e-5 * top)
    assert np.abs(sol._correction(12)).max() < 1e-4 * np.abs(ge).max()
    np.testing.assert_array_equal(sol._correction(0), ge - g)


def test_line_relaxation_refuses_when_not_converged(monkeypatch):
    from cimsim.array import _lines

    monkeypatch.setattr(_lines, "MAX_PASSES", 2)
    rng = np.random.default_rng(3)
    xb = cb.Crossbar(rng.uniform(1e-6, 5e-5, (20, 30)), 40.0, cell=SinhIV(0.2))
    with pytest.raises(cb.ConvergenceError, match="did not converge in 2 passes.*'exact'"):
        xb.column_currents(rng.uniform(0.0, 0.3, (3, 20)), method="lines", rtol=1e-9)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("rowwire", [True, False])
@pytest.mark.parametrize("store", [True, False])
@pytest.mark.parametrize("law", ["1t1r", "sinh"])
def test_line_relaxation_pass_kernel_equals_its_reference(first, rowwire, store, law):
    """One pass of the compiled kernel against the NumPy reference, every variant, for 1T1R
    cells (an expansion of several terms) and sinh cells (one odd polynomial) from a
    perturbed state."""
    from cimsim.array import _lines
    from device_models.one_t_one_r import OneTOneRIV

    rng = np.random.default_rng(21)
    n_r, n_c, G = 9, 13, _lines.GROUP
    f32 = np.float32
    g = rng.uniform(2e-6, 2e-5, (n_r, n_c))
    cell = (OneTOneRIV.from_card("yao2020_taox_1t1r", v_gate_v=0.6) if law == "1t1r" else
            SinhIV(0.3))
    xb = cb.Crossbar(g, r_wire_row_ohm=0.5 if rowwire else 0.0, r_wire_col_ohm=0.7, cell=cell)
    sol = xb._lines_solver(0.3)
    fn = _lines._kernel(sol.poly.shape[0], sol.poly.shape[1], first, rowwire, store, sol.odd)
    if fn is None:
        pytest.skip("the line-relaxation kernel did not compile here")
    assert sol.poly.shape[0] >= 2 if law == "1t1r" else sol.odd
    v = rng.uniform(-0.3, 0.3, (G, n_r))
    cur = cell.current(v.T[:, None, :], g[:, :, None]) * rng.uniform(0.9, 1.0, (n_r, n_c, G))
    state = dict(st=cur.astype(f32), tt=cur.sum(axis=1).astype(f32),
                 wk=np.zeros((n_c, 2, G), f32),
                 bt=(0.7 * np.tensordot(n_r - np.arange(n_r), cur, axes=1)).astype(f32),
                 ra=np.zeros((n_c, G), f32), rn=np.zeros((n_c, G), f32))
    ins = (np.ascontiguousarray(v.T, dtype=f32), sol.poly, sol.coef, sol.csum, sol.gc, sol.gcu,
           sol.irp, sol.cpr)
    scal = (sol.g_row, sol.r_row, sol.r_col)
    ref = {n: a.copy() for n, a in state.items()}
    _lines._pass_numpy(first, rowwire, store, *ins, *ref.values(), *scal, odd=sol.odd)
    got = {n: a.copy() for n, a in state.items()}
    fn(n_r, n_c, *(a.ctypes.data for a in (*ins, *got.values())), *scal)
    for name in ("st", "tt", "bt", "ra", "rn"):
        top = max(np.abs(ref[name]).max(), np.abs(state[name]).max())    # bt: consumed
        atol = 1e-5 * top
        if name == "tt" and rowwire:     # g_row (v − U_0): to the rounding of g_row·v
            atol = max(atol, 4.0 * np.finfo(f32).eps * sol.g_row * np.abs(v).max())
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=atol, err_msg=name)
    if not store:
        assert np.array_equal(got["st"], state["st"]) and np.array_equal(got["tt"], state["tt"])


def test_line_relaxation_kernel_equals_its_reference():
    from device_models._jit import use_backend

    rng = np.random.default_rng(18)
    g = rng.uniform(2e-6, 2e-5, (16, 24))
    v = rng.uniform(-0.2, 0.2, (20, 16))
    out = {}
    for name in ("numba", "numpy"):
        with use_backend(name):
            xb = cb.Crossbar(g, 2.0, cell=SinhIV(0.4))
            out[name] = xb.column_currents(v, method="lines", rtol=1e-6)
            passes = xb.lines_info["passes"]
        out[name + "_passes"] = passes
    assert out["numba_passes"] == out["numpy_passes"]
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-5,
                               atol=1e-6 * np.abs(out["numpy"]).max())
