"""Data integrity and bad input: one test (or more) per case of the reliability list.

Each test is named ``test_case_NN_...`` after the case it covers; cards as values (one
mechanism for modified cards) come first.
"""

from __future__ import annotations

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

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(runner, "_CONNECT_TIMEOUT_S", 1.0)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "s.h5"
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        sweep.run_sweep(SPEC, out, scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert list(outdir.iterdir()) == []  # no .h5, no lock file
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
