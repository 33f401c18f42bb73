"""Data integrity and bad input: one test (or more) per case of the reliability list.

Each test is named ``test_case_NN_...`` after the case it covers; cards as values (one
mechanism for modified cards) come first.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from cimsim import HardwareConfig
from cimsim.cli import main
from cimsim.study import runner, sweep
from cimsim.study.store import load
from device_models import cards
from device_models.errors import (
    CardError,
    CimSimError,
    ClusterError,
    ConfigError,
    StoreError,
)

CARD = "yao2020_taox_1t1r"
SPEC = {
    "sweep": {"job": "device_array", "seeding": "per_point", "seed": 3},
    "base": {"faults": False},
    "options": {"cells": 256},
    "grid": {"card.tolerance_frac": [0.01, 0.04], "t_s": [1.0, 1e5]},
}


# --- cards as values ---------------------------------------------------------------------


def test_card_replace_is_a_validated_value_with_provenance():
    card = cards.load(CARD)
    mod = card.replace(tolerance_frac=0.05)
    assert mod.tolerance_frac == 0.05 and card.tolerance_frac != 0.05
    assert mod.modified == ("tolerance_frac",) and card.modified == ()
    assert mod.path == card.path and mod.name == card.name
    assert "modified" in mod.notes["tolerance_frac"]
    assert mod.sha256 != card.sha256 and mod != card
    assert card.replace(tolerance_frac=card.tolerance_frac) is card  # no change, same card
    assert cards.load(mod) is mod
    assert cards.Card.from_dict(mod.to_dict()) == mod
    with pytest.raises(CardError, match="tolerance_frac"):
        card.replace(tolerance_frac=-1.0)
    with pytest.raises(CardError, match="unknown field 'nope'"):
        card.replace(nope=1.0)
    tampered = mod.to_dict()
    tampered["values"]["tolerance_frac"]["value"] = 0.06
    with pytest.raises(CardError, match="altered"):
        cards.Card.from_dict(tampered)


def test_hardware_config_takes_a_card_and_stores_its_content():
    mod = cards.load(CARD).replace(tolerance_frac=0.05)
    hw = HardwareConfig(device_card=mod)
    assert cards.load(hw.device_card) is mod  # code that loads by field keeps working
    d = json.loads(json.dumps(hw.to_dict()))
    assert d["device_card"]["values"]["tolerance_frac"]["value"] == 0.05
    assert d["device_card"]["modified"] == ["tolerance_frac"]
    assert HardwareConfig.from_dict(d) == hw
    assert d["adc_card"] == "liu2010_sar_10b"  # a name stays a name in the config...
    rec = hw.cards()  # ...and every card's content goes beside it
    assert rec["adc_card"]["sha256"] == cards.load("liu2010_sar_10b").sha256
    assert rec["device_card"]["values"]["tolerance_frac"]["value"] == 0.05


def test_report_records_the_cards():
    from cimsim.nn.layers import Linear
    from cimsim.nn.network import Network

    hw = HardwareConfig.ideal(device_card=cards.load(CARD).replace(g_max_s=30e-6))
    net = Network([Linear(np.eye(4), None, name="fc")], (4,), name="t")
    net.compile(hw, np.ones((4, 4)))
    ev = net.evaluate(np.ones((3, 4)), np.zeros(3, dtype=np.int64))
    report = net.report(ev)
    got = report.to_dict()["cards"]["device_card"]
    assert got["values"]["g_max_s"]["value"] == 30e-6 and got["modified"] == ["g_max_s"]


def test_sweep_over_card_fields_uses_card_values_not_files(tmp_path):
    spec = sweep.SweepSpec.from_dict(SPEC)
    pts = spec.points()
    assert isinstance(pts[2].hardware.device_card, cards.Card)
    assert pts[2].card().tolerance_frac == 0.04
    assert pts[2].hardware.device_card.modified == ("tolerance_frac",)


# --- 1. resumed sweeps refuse changed cards -------------------------------------------------


class _Stop(Exception):
    pass


def _interrupted_run(spec, out, n_done: int):
    seen = []

    def stop(rec):
        seen.append(rec)
        if len(seen) >= n_done:
            raise _Stop

    with pytest.raises(_Stop):
        sweep.run_sweep(spec, out, workers=0, progress=False, on_point=stop)


def test_case_01_resume_with_an_edited_card_is_refused(tmp_path, monkeypatch):
    shadow = tmp_path / "cards"
    shadow.mkdir()
    src = Path(cards.load(CARD).path)
    shutil.copy(src, shadow / src.name)
    monkeypatch.setenv("CIMSIM_CARDS_PATH", str(shadow))
    out = tmp_path / "s.h5"
    _interrupted_run(SPEC, out, 2)
    stored = load(out).cards[CARD]
    assert stored["path"] == str((shadow / src.name).resolve())
    # edit a value the spec does not override: the resume is refused, the file untouched
    text = (shadow / src.name).read_text()
    (shadow / src.name).write_text(text.replace('v_read_v = { value = 0.2,',
                                                'v_read_v = { value = 0.25,'))
    before = out.read_bytes()
    with pytest.raises(StoreError, match=r"mix card versions.*v_read_v 0\.2 -> 0\.25"):
        sweep.run_sweep(SPEC, out, workers=0, progress=False)
    assert out.read_bytes() == before
    # restored: the resume finishes
    (shadow / src.name).write_text(text)
    assert sweep.run_sweep(SPEC, out, workers=0, progress=False)["done"] == 4


def test_case_01_a_shadowing_card_is_recorded_and_refused(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    _interrupted_run(SPEC, out, 1)
    assert load(out).cards[CARD]["path"] == str(Path(cards.load(CARD).path))
    shadow = tmp_path / "cards"
    shadow.mkdir()
    text = Path(cards.load(CARD).path).read_text()
    (shadow / f"{CARD}.toml").write_text(text.replace('n_levels = { value = 8,',
                                                      'n_levels = { value = 16,'))
    monkeypatch.setenv("CIMSIM_CARDS_PATH", str(shadow))
    with pytest.raises(StoreError, match=r"now read from .*cards.*n_levels 8 -> 16"):
        sweep.run_sweep(SPEC, out, workers=0, progress=False)


def test_case_01_a_worker_with_another_card_version_fails_the_point(tmp_path, monkeypatch):
    point = sweep.SweepSpec.from_dict(SPEC).points()[0].to_dict()
    point["cards"] = {"adc_card": "0" * 64}
    res = runner.execute_point(point)
    assert res["status"] == 2 and "another version of the card" in res["error"]


# --- 3. symlinked --out ---------------------------------------------------------------------


def test_case_03_symlinked_out_locks_and_writes_the_target(tmp_path):
    from cimsim.study.store import writer_lock

    target = tmp_path / "real" / "s.h5"
    target.parent.mkdir()
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    with writer_lock(target), pytest.raises(StoreError, match="another cimsim sweep"):
        sweep.run_sweep(SPEC, link, workers=0, progress=False)  # the target's lock holds
    s = sweep.run_sweep(SPEC, link, workers=0, progress=False)
    assert s["done"] == 4 and link.is_symlink() and target.is_file()
    assert load(link).summary()["done"] == 4


# --- 8. checksums ---------------------------------------------------------------------------


def _flip_chunk_bytes(path: Path, dataset: str) -> None:
    with h5py.File(path, "r") as fh:
        ds = fh[dataset]
        assert ds.fletcher32
        info = ds.id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 3)
        b = fh.read(1)
        fh.seek(info.byte_offset + 3)
        fh.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("dataset", ["metrics/read_rms_error_rel", "points/status",
                                     "points/config", "points/host"])
def test_case_08_overwritten_bytes_are_refused_on_load(tmp_path, dataset):
    out = tmp_path / "s.h5"
    sweep.run_sweep(SPEC, out, workers=0, progress=False)
    _flip_chunk_bytes(out, dataset)
    with pytest.raises(StoreError, match="damaged"):
        load(out)
    assert main(["sweep-status", str(out)]) == 2


def test_case_08_every_dataset_is_checksummed(tmp_path):
    out = tmp_path / "s.h5"
    sweep.run_sweep(SPEC, out, workers=0, progress=False)
    found = []
    with h5py.File(out, "r") as fh:
        fh.visititems(lambda name, obj: found.append((name, obj.fletcher32))
                      if isinstance(obj, h5py.Dataset) else None)
    assert found and all(ok for _, ok in found), [n for n, ok in found if not ok]


# --- 13. sweep size --------------------------------------------------------------------------


def test_case_13_huge_grids_and_samples_are_refused_before_expansion():
    big = {"sweep": {"job": "device_array"},
           "grid": {"t_s": list(range(1, 101)), "temperature_k": [300.0] * 100,
                    "tile.adc_bits": [8] * 100, "seed": list(range(100)),
                    "tile.rows": [64] * 100}}  # 10**10 points
    with pytest.raises(ConfigError, match=r"10,000,000,000 points.*--max-points"):
        sweep.SweepSpec.from_dict(big)
    sample = {"sweep": {"job": "device_array"},
              "random": {"samples": 10**9, "t_s": {"low": 1.0, "high": 2.0}}}
    with pytest.raises(ConfigError, match="limit of 100,000"):
        sweep.SweepSpec.from_dict(sample)
    # a raised limit: still lazy, any point computed alone equals the full expansion
    spec = sweep.SweepSpec.from_dict(big, max_points=10**10)
    assert spec.size == 10**10
    assert spec.assignments[10**10 - 1] == {"t_s": 100, "temperature_k": 300.0,
                                            "tile.adc_bits": 8, "seed": 99, "tile.rows": 64}
    small = {"sweep": {"job": "device_array", "seed": 5},
             "random": {"samples": 50, "t_s": {"low": 1.0, "high": 1e3, "log": True},
                        "tile.adc_bits": {"choices": [4, 6, 8]}}}
    spec = sweep.SweepSpec.from_dict(small)
    whole = list(spec.assignments)
    assert [spec.assignments[i] for i in (49, 0, 17)] == [whole[49], whole[0], whole[17]]
    with pytest.raises(ConfigError, match="max_points"):
        sweep.SweepSpec.from_dict(small, max_points=0)


def test_case_13_cli_flag_raises_the_limit(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\njob = "device_array"\n[options]\ncells = 64\n'
                    '[grid]\n"t_s" = [1.0, 2.0, 3.0]\n')
    out = tmp_path / "s.h5"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress",
                 "--max-points", "2"]) == 2
    assert not out.exists()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress",
                 "--max-points", "3"]) == 0


# --- 14. unreachable scheduler ------------------------------------------------------------------


def test_case_14_unreachable_scheduler_fails_fast_and_creates_no_file(tmp_path, monkeypatch,
                                                                      capsys):
    pytest.importorskip("distributed")
    import socket
    import threading
    import time

    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "s.h5"
    with socket.socket() as s:  # a port nobody listens on: refused at once, no retry loop
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # refused is reported as refused (the client alone would retry until its timeout)
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler.*refused"):
        sweep.run_sweep(SPEC, out, scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert list(outdir.iterdir()) == []  # no .h5, no lock file
    # a server that answers, but not in the Dask protocol (an HTTP proxy: its first bytes
    # read as a frame length of 3.5e18 bytes)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def garbage():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\0" * 64)
                    time.sleep(0.2)

    threading.Thread(target=garbage, daemon=True).start()
    monkeypatch.setattr(runner, "_CONNECT_TIMEOUT_S", 2.0)
    try:
        with pytest.raises(ClusterError, match="does not answer as a Dask scheduler"):
            sweep.run_sweep(SPEC, out, scheduler=f"tcp://127.0.0.1:{srv.getsockname()[1]}",
                            progress=False)
    finally:
        srv.close()
    assert list(outdir.iterdir()) == []
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\njob = "device_array"\n')
    assert main(["sweep", str(spec), "--out", str(out), "--scheduler", "nonsense://x"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert list(outdir.iterdir()) == []


# --- 15. unwritable --out --------------------------------------------------------------------


def test_case_15_unwritable_out_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\njob = "device_array"\n[options]\ncells = 64\n'
                    '[grid]\n"t_s" = [1.0, 2.0]\n')
    assert main(["sweep", str(spec), "--out", str(blocker / "sub" / "s.h5"), "--workers", "0",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "cannot" in err
    good = tmp_path / "s.h5"
    assert main(["sweep", str(spec), "--out", str(good), "--workers", "0",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["plot", str(good), "--x", "t_s", "--y", "read_rms_error_rel",
                 "--out", str(blocker / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the figure" in err
    assert main(["devices", "--out", str(blocker / "sub")]) == 2  # a folder the OS refuses
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sub: cannot be used (Not a directory)" in err


# --- 16. corrupted header -------------------------------------------------------------------


def test_case_16_corrupted_header_bytes_give_store_error(tmp_path):
    out = tmp_path / "s.h5"
    sweep.run_sweep(SPEC, out, workers=0, progress=False)
    data = bytearray(out.read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(12):
        bad = bytearray(data)
        start = int(rng.integers(0, 2048))
        bad[start:start + 16] = bytes(rng.integers(0, 256, 16, dtype=np.uint8))
        path = tmp_path / f"bad{trial}.h5"
        path.write_bytes(bytes(bad))
        try:
            res = load(path)
        except StoreError:
            continue
        # the damage missed everything load reads: the numbers are the originals
        ref = load(out)
        for k in ref.metrics:
            np.testing.assert_array_equal(res.metrics[k], ref.metrics[k])
    with h5py.File(out, "r+") as fh:  # a header attribute altered behind the store's back
        fh.attrs["spec_json"] = fh.attrs["spec_json"].replace("256", "257")
    with pytest.raises(StoreError, match="spec_json does not match"):
        load(out)


# --- 23. configs ------------------------------------------------------------------------------


def test_case_23_card_of_the_wrong_kind_is_refused_at_construction():
    with pytest.raises(ConfigError, match="'device_card' field of HardwareConfig must be a "
                                          "card of kind"):
        HardwareConfig(device_card="liu2010_sar_10b")
    with pytest.raises(ConfigError, match="'adc_card'"):
        HardwareConfig(adc_card=cards.load(CARD))
    with pytest.raises(CimSimError, match="'tech_card' field"):
        HardwareConfig(tech_card="no_such_card")


# --- 2. all-zero weights ---------------------------------------------------------------------


@pytest.mark.parametrize("path,value", [(None, None), ("tile.input_encoding", "bit_serial"),
                                        ("tile.weight_mapping", "offset"),
                                        ("tile.bits_per_cell", 2)])
def test_case_02_all_zero_weights_give_exact_zero(path, value):
    from cimsim import AnalogMatrix

    hw = HardwareConfig() if path is None else HardwareConfig().replace_path(path, value)
    x = np.random.default_rng(0).uniform(0, 1, (8, 40))
    am = AnalogMatrix(np.zeros((40, 6)), hw).calibrate(x)
    y, _ = am.matmul(x)
    assert np.array_equal(y, np.zeros_like(y))


# --- 4 and 19. nonlinear solve past overflow; singular networks ------------------------------


def test_case_04_nonlinear_solve_converges_or_raises_never_violates_kcl():
    from cimsim.crossbar import ConvergenceError, solve_crossbar

    from device_models import SinhIV

    g = np.full((4, 4), 10e-6)
    cell = SinhIV(v0_v=0.25)
    for v in (5.0, 100.0, 1e5):  # V/v0 = 20, 400 (sinh ~ 1e173), 4e5 (overflow)
        for method in ("exact", "newton", "fast"):
            try:
                sol = solve_crossbar(g, np.full((1, 4), v), r_wire_ohm=1.0, cell=cell,
                                     method=method)
            except ConvergenceError:
                continue
            i = sol.column_currents_a
            assert np.all(np.isfinite(i))
            # KCL at the ground end of each column wire: I = V(last row) / r_col, and no
            # current can exceed the driver voltage over one wire segment
            assert np.max(np.abs(i)) <= 4 * v / 1.0
    sol = solve_crossbar(g, np.full((1, 4), 5.0), r_wire_ohm=1.0, cell=cell)
    np.testing.assert_allclose(sol.column_currents_a, sol.v_col_nodes_v[:, -1, :] / 1.0,
                               rtol=1e-6)


def test_case_19_singular_network_is_a_clear_error():
    from cimsim.crossbar import column_currents

    from device_models.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="cell-to-wire conductance ratio"):
        column_currents(np.full((4, 4), 1e300), np.full(4, 1e10), r_wire_ohm=1.0)
    with pytest.raises(InvalidParameterError, match="currents stay finite"):
        column_currents(np.full((4, 4), 1e300), np.full(4, 1e10))


# --- 5. complex inputs --------------------------------------------------------------------------


def test_case_05_complex_inputs_are_refused():
    from cimsim.crossbar import column_currents

    from cimsim import AnalogMatrix
    from device_models import SarAdc, mosfet_current
    from device_models.errors import InvalidParameterError

    n = cards.load("mosis2001_tsmc180_nmos")
    am = AnalogMatrix(np.ones((4, 4)), HardwareConfig()).calibrate(np.ones((2, 4)))
    calls = [lambda: column_currents(np.full((4, 4), 1e-5), np.full(4, 0.2 + 0.1j)),
             lambda: column_currents(np.full((4, 4), 1e-5 + 0j), np.full(4, 0.2)),
             lambda: mosfet_current(1.0 + 0.5j, 1.0, n),
             lambda: mosfet_current(1.0, [np.complex64(1.0)], n),
             lambda: SarAdc(8).convert(np.array([0.5 + 0.0j])),
             lambda: SarAdc(8, full_scale_v=complex(1.0, 0.0)),
             lambda: am.matmul(np.ones((2, 4), dtype=complex)),
             lambda: AnalogMatrix(np.ones((4, 4)) * (1 + 1j), HardwareConfig())]
    for call in calls:
        with pytest.raises(InvalidParameterError, match="real"):
            call()


# --- 6 and 18. saturated ADC ----------------------------------------------------------------------


def test_case_06_18_saturated_adc_is_a_clear_error():
    from device_models import SarAdc, measure_enob
    from device_models.errors import InvalidParameterError
    from device_models.measure import measure_inl_dnl

    adc = SarAdc(8, comparator_offset_v=5.0)
    for call in (lambda: measure_inl_dnl(adc), lambda: measure_inl_dnl(adc, stimulus="sine"),
                 lambda: measure_enob(adc)):
        with pytest.raises(InvalidParameterError, match="saturated"):
            call()
    ok = measure_inl_dnl(SarAdc(8, comparator_offset_v=0.5 / 256))  # half an LSB: fine
    assert np.all(np.isfinite(ok.dnl_lsb))


# --- 7. MOSFET at huge inputs ---------------------------------------------------------------------


def test_case_07_mosfet_current_refuses_absurd_voltages_and_stays_finite_below():
    from device_models import mosfet_current
    from device_models.constants import V_TERMINAL_MAX_V
    from device_models.errors import InvalidParameterError

    n = cards.load("mosis2001_tsmc180_nmos")
    for vgs, vds in ((1e300, 1e308), (1.0, 1e300), (-1e300, 1.0)):
        with pytest.raises(InvalidParameterError, match="<= 1000|>= -1000"):
            mosfet_current(vgs, vds, n)
    v = np.array([-V_TERMINAL_MAX_V, 0.0, V_TERMINAL_MAX_V])
    for t in (1.0, 300.0, 1000.0):
        i = mosfet_current(v[:, None], v[None, :], n, temperature_k=t)
        assert np.all(np.isfinite(i))


# --- 9 and 21. calibration on nothing -------------------------------------------------------------


def test_case_09_21_calibrate_refuses_zero_and_empty_inputs():
    from cimsim import AnalogMatrix, load_bundled
    from device_models.errors import InvalidParameterError

    am = AnalogMatrix(np.ones((16, 4)), HardwareConfig())
    with pytest.raises(InvalidParameterError, match="all-zero"):
        am.calibrate(np.zeros((4, 16)))
    with pytest.raises(InvalidParameterError, match="at least one"):
        am.calibrate(np.zeros((0, 16)))
    net = load_bundled("digits_cnn_relu")
    with pytest.raises(InvalidParameterError, match="at least one input"):
        net.compile(HardwareConfig.ideal(), np.zeros((0, 1, 8, 8)))
    # a subnormal full scale has no LSB (was ZeroDivisionError; weights read back as 0)
    with pytest.raises(InvalidParameterError, match=r"max\|x_cal\| >= "):
        am.calibrate(np.full((2, 16), 5e-324))
    with pytest.raises(InvalidParameterError, match=r"max\|weight\| >= "):
        AnalogMatrix(np.full((16, 4), 5e-324), HardwareConfig())
    tiny = AnalogMatrix(np.full((16, 4), 1e-280), HardwareConfig.ideal())  # tiny but normal
    y, _ = tiny.calibrate(np.ones((2, 16))).matmul(np.ones((2, 16)))
    np.testing.assert_allclose(y, 16e-280, rtol=0.02)


# --- 10, 11, 21. labels, counts, empty batches ----------------------------------------------------


@pytest.fixture(scope="module")
def digits_net():
    from cimsim.models import load_digits_split

    from cimsim import load_bundled

    net = load_bundled("digits_cnn_relu")
    d = load_digits_split()
    net.compile(HardwareConfig.ideal(), d["x_train"][:32])
    return net, d


def test_case_10_bad_labels_are_refused(digits_net):
    from device_models.errors import InvalidParameterError

    net, d = digits_net
    x = d["x_test"][:8]
    for y, why in ((d["y_test"][:8] + 0.5, "whole numbers"), (np.full(8, np.nan), "finite"),
                   (np.full(8, 10), r"\[0, 9\]"), (np.full(8, -1), r"\[0, 9\]"),
                   (d["y_test"][:7], "one label per input")):
        for call in (net.evaluate, net.float_accuracy):
            with pytest.raises(InvalidParameterError, match=why):
                call(x, y)
    # whole-number floats are labels
    assert net.evaluate(x, d["y_test"][:8].astype(float)).n == 8


def test_case_11_requested_counts_above_what_exists_are_refused(tmp_path, capsys):
    big = {"sweep": {"job": "demo"}, "options": {"n_test": 10_000}}
    with pytest.raises(ConfigError, match="n_test.*<= 359"):
        sweep.SweepSpec.from_dict(big).points()
    for model, n in (("digits_snn_lif", 359), ("mnist_snn_lif", 2000)):
        spec = {"sweep": {"job": "spiking"}, "options": {"model": model, "n_test": n + 1}}
        with pytest.raises(ConfigError, match=rf"n_test.*<= {n} \(the .* test images"):
            sweep.SweepSpec.from_dict(spec).points()
        spec["options"]["n_test"] = n
        assert sweep.SweepSpec.from_dict(spec).points()[0].options.n_test == n
    assert main(["demo", "--n", "0", "--no-volatility"]) == 2
    assert "--n" in capsys.readouterr().err
    assert main(["demo", "--n", "100000", "--no-volatility"]) == 2


def test_case_21_empty_batches_are_refused(digits_net):
    from device_models.errors import InvalidParameterError

    net, _ = digits_net
    with pytest.raises(InvalidParameterError, match="at least one input"):
        net.evaluate(np.zeros((0, 1, 8, 8)), np.zeros(0, dtype=int))


# --- 12. bit-identical across BLAS threads --------------------------------------------------------

_BLAS_SCRIPT = """
import sys
import numpy as np
from cimsim import AnalogMatrix, HardwareConfig
from cimsim.crossbar import column_currents
from device_models import SinhIV
hw = HardwareConfig().replace_path("tile.r_wire_row_ohm", 1.0).replace_path(
    "tile.r_wire_col_ohm", 1.0)
w = np.random.default_rng(1).normal(size=(300, 40))
x = np.random.default_rng(2).uniform(0, 1, (600, 300))
y, _ = AnalogMatrix(w, hw).calibrate(x[:64]).matmul(x)
y_sinh, _ = AnalogMatrix(w, hw.replace_path("tile.cell", "sinh")).calibrate(x[:16]).matmul(
    x[:200])
g = np.random.default_rng(0).uniform(2e-6, 20e-6, (256, 128))
i = column_currents(g, x[:, :256], r_wire_ohm=1.0)
sinh = SinhIV(v0_v=0.25)
i_nl = [column_currents(g[:128, :64], 0.3 * x[:8, :128], r_wire_ohm=1.0, cell=sinh, method=m)
        for m in ("exact", "lines")]
parts = [y, y_sinh, i, *i_nl]
sys.stdout.write(np.concatenate([p.ravel() for p in parts]).tobytes().hex())
"""


def test_case_12_ir_drop_results_identical_for_any_thread_count():
    """Linear and sinh cells with wire resistance (tile IR-drop read, the Newton solve and the
    line relaxation): the same bytes with one and two BLAS / OpenMP / Numba threads."""
    import os
    import subprocess
    import sys

    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                   MKL_NUM_THREADS=n, NUMBA_NUM_THREADS=n)
        res = subprocess.run([sys.executable, "-c", _BLAS_SCRIPT], env=env, check=True,
                             capture_output=True, text=True)
        outs.append(res.stdout)
    assert outs[0] == outs[1]


# --- 17. devices on a non-MOSFET card -------------------------------------------------------------


def test_case_17_devices_on_a_non_mosfet_card(capsys, tmp_path):
    assert main(["devices", "--cards", "yao2020_taox_1t1r", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "kind 'mosfet'" in err and "yao2020_taox_1t1r (kind '1t1r')" in err


# --- 20. truncated model files --------------------------------------------------------------------


def test_case_20_truncated_or_damaged_model_files(tmp_path):
    from cimsim import load_bundled, load_model, save_model
    from device_models.errors import InvalidParameterError

    net = load_bundled("digits_cnn_relu")
    for suffix in (".npz", ".h5"):
        data = save_model(net, tmp_path / f"m{suffix}").read_bytes()
        for k, cut in enumerate((100, len(data) // 2, len(data) - 10)):
            bad = tmp_path / f"cut{k}{suffix}"
            bad.write_bytes(data[:cut])
            with pytest.raises(InvalidParameterError, match="Model file"):
                load_model(bad)
    data = (tmp_path / "m.npz").read_bytes()
    bad = bytearray(data)
    bad[len(data) // 2: len(data) // 2 + 64] = b"x" * 64
    (tmp_path / "flip.npz").write_bytes(bytes(bad))
    with pytest.raises(InvalidParameterError, match="Model file"):
        load_model(tmp_path / "flip.npz")


# --- 22. counters ---------------------------------------------------------------------------------


def test_case_22_stream_offsets_are_validated():
    from cimsim import AnalogMatrix
    from device_models import SarAdc, rng
    from device_models.errors import InvalidParameterError

    am = AnalogMatrix(np.ones((4, 4)), HardwareConfig()).calibrate(np.ones((2, 4)))
    for bad in (2**70, 2**63, -1, 1.7, "3", None if False else np.nan):
        with pytest.raises(InvalidParameterError, match="sample_offset"):
            am.matmul(np.ones((2, 4)), sample_offset=bad)
        with pytest.raises(InvalidParameterError, match="offset"):
            SarAdc(8).convert(np.full(4, 0.5), offset=bad)
        with pytest.raises(InvalidParameterError, match="offset"):
            rng.uniform(1, 3, offset=bad)
    # seeds: refused where they are given, not deep in the stream that first uses them
    with pytest.raises(ConfigError, match="'seed' field of HardwareConfig"):
        HardwareConfig(seed=2**70)
    with pytest.raises(ConfigError, match=r"'sweep.seed' must be an integer in \[0, 2\*\*64\)"):
        sweep.SweepSpec.from_dict({"sweep": {"job": "device_array", "seed": 2**70}})
    assert HardwareConfig(seed=2**64 - 1).seed == 2**64 - 1
    y1, _ = am.matmul(np.ones((2, 4)), sample_offset=rng.MAX_OFFSET)
    y2, _ = am.matmul(np.ones((2, 4)), sample_offset=np.int64(rng.MAX_OFFSET))
    assert np.array_equal(y1, y2)


# --- 23. config and model edge cases --------------------------------------------------------------


def test_case_23_config_and_model_edge_cases():
    from cimsim.nn.layers import ReLU
    from cimsim.nn.network import Network
    from device_models.errors import InvalidParameterError

    hw = HardwareConfig()
    with pytest.raises(ConfigError, match="'t_s' field of HardwareConfig must be finite"):
        hw.replace_path("t_s", 10**400)
    with pytest.raises(ConfigError, match="'path' parameter"):
        hw.replace_path(5, 6)
    with pytest.raises(ConfigError, match="Unknown field"):
        hw.replace(no_such_field=1)
    for shape in ("abc", [], [-1], [1.5], None, [2, "x"]):
        with pytest.raises(InvalidParameterError, match="input_shape"):
            Network([ReLU(name="r")], shape)


# --- one error family: no bare builtin exceptions from the project --------------------------------


def test_missing_optional_packages_raise_missing_dependency_error(monkeypatch, tmp_path):
    import sys

    from device_models.errors import MissingDependencyError

    out = tmp_path / "s.h5"
    sweep.run_sweep({"sweep": {"job": "device_array"}, "options": {"cells": 16},
                     "grid": {"t_s": [1.0, 2.0]}}, out, workers=0, progress=False)
    res = load(out)
    for mod in ("pandas", "xarray"):
        monkeypatch.setitem(sys.modules, mod, None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match="needs pandas"):
        res.to_dataframe()
    with pytest.raises(MissingDependencyError, match=r"pip install 'cimsim\[xarray\]'"):
        res.to_xarray()
    assert issubclass(MissingDependencyError, ImportError)  # except ImportError still works


def test_a_job_returning_bad_metrics_fails_its_point_with_a_project_error(monkeypatch):
    from cimsim.study import jobs

    point = sweep.SweepSpec.from_dict({"sweep": {"job": "device_array"}}).points()[0].to_dict()
    for result, why in ((["x"], "mapping of metric names"), ({"m": "x"}, "'metric m'")):
        monkeypatch.setitem(jobs._JOBS, "device_array", jobs._JOBS["device_array"].__class__(
            "device_array", lambda cfg, r=result: r, None, (), ""))
        res = runner.execute_point(point)
        assert res["status"] == 2 and "InvalidParameterError" in res["error"], res["error"]
        assert why in res["error"]
