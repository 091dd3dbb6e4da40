"""Calibrated tolerances: the rule, choices, dependencies, false alarms, and the power of the check.

The statistics are checked against simulation (a prediction interval must cover a new run as often as it
claims); the check's power against the stored full-size reference (a regression of the headline value is
flagged); and, at smoke size, against real runs: other CPU kernels pass, a blank modality and shuffled
labels do not.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medkit.book import calibration, repro
from medkit.book.calibration import derive, derive_entry, false_alarms

STEM = "06_multimodal_model"


def test_a_calibrated_tolerance_covers_a_new_run_as_often_as_it_claims():
    rng = np.random.default_rng(0)
    trials, n, inside = 4000, 8, 0
    for _ in range(trials):
        runs = rng.normal(0.8, 0.01, n + 1)
        entry = derive_entry({"value": float(runs[0]), "tol": 0.05, "kind": "trained"}, list(runs[:n]), m=1)
        center = entry["calibration"]["center"]
        inside += abs(runs[n] - center) <= entry["tol"]
    # a 95% prediction interval (t quantile, sqrt(1 + 1/n)); the floor (0.002) is below 0.01 * q here
    assert inside / trials == pytest.approx(0.95, abs=0.012)


def test_bonferroni_widens_the_tolerance_with_the_number_of_values():
    runs = [0.80, 0.81, 0.79, 0.805, 0.795]
    one = derive_entry({"value": 0.8, "tol": 0.05, "kind": "trained"}, runs, m=1)["tol"]
    forty = derive_entry({"value": 0.8, "tol": 0.05, "kind": "trained"}, runs, m=40)["tol"]
    from scipy import stats

    sd = np.std(runs, ddof=1)
    assert one == pytest.approx(stats.t.ppf(0.975, 4) * sd * np.sqrt(1 + 1 / 5))
    assert forty == pytest.approx(stats.t.ppf(1 - 0.05 / 80, 4) * sd * np.sqrt(1 + 1 / 5))
    assert derive_entry({"value": 0.8, "tol": 0.05, "kind": "trained"}, [0.8] * 4, m=1)["tol"] == calibration.FLOOR
    with pytest.raises(ValueError, match="at least 3"):
        derive_entry({"value": 0.8, "tol": 0.05, "kind": "trained"}, [0.8, 0.81], m=1)


def test_choices_accept_every_outcome_seen_and_dependants_are_measured_on_the_same_choice():
    values = {"best": {"value": "late", "tol": 0.0, "kind": "trained"},
              "auc": {"value": 0.9, "tol": 0.05, "kind": "trained", "depends_on": ["best"]},
              "n": {"value": 80, "tol": 1e-9, "kind": "closed-form"}}
    runs = [{"best": "late", "auc": a} for a in (0.90, 0.91, 0.89, 0.90)] + [{"best": "concat", "auc": 0.5}]
    out = derive(values, runs)
    assert out["best"]["calibration"]["allowed"] == ["concat", "late"]
    assert out["auc"]["calibration"]["n"] == 4  # the concat run is not part of late's spread
    assert "calibration" not in out["n"]
    reference = {"full": {"nb": {"parameters": {}, "values": out}}}
    same = repro.compare({"nb": {"status": "ok", "values": {"best": "late", "auc": 0.905, "n": 80}}}, reference)
    assert all(c.status == "ok" for c in same)
    other = repro.compare({"nb": {"status": "ok", "values": {"best": "concat", "auc": 0.5, "n": 80}}}, reference)
    assert all(c.status == "ok" for c in other)
    assert "not compared" in next(c.detail for c in other if c.name == "auc")
    unseen = repro.compare({"nb": {"status": "ok", "values": {"best": "gated", "auc": 0.9, "n": 80}}}, reference)
    assert [c.name for c in unseen if c.failed] == ["best"]


def test_leave_one_out_flags_an_outlying_run():
    runs = [0.90, 0.905, 0.895, 0.9, 0.902, 0.898, 0.901, 0.80]
    values = derive({"a": {"value": 0.9, "tol": 0.05, "kind": "trained"}}, [{"a": r} for r in runs])
    flagged, n, per_value = false_alarms(values)
    assert (flagged, n, per_value) == (1, 8, {"a": 1})


def test_a_drift_names_the_value_and_the_size_of_the_change():
    values = derive({"test_auroc_fused": {"value": 0.88, "tol": 0.05, "kind": "trained"}},
                    [{"test_auroc_fused": r} for r in (0.88, 0.885, 0.875, 0.882, 0.878)])
    reference = {"full": {STEM: {"parameters": {}, "values": values}}}
    checks = repro.compare({STEM: {"status": "ok", "values": {"test_auroc_fused": 0.84}}}, reference)
    assert checks[0].status == "DRIFT"
    table = repro.format_table(checks)
    assert "test_auroc_fused" in table and "changed by -0.0400" in checks[0].detail


# --------------------------------------------------------------------------- the stored full-size reference


def _full_reference():
    reference = repro.load_reference()
    entry = reference["full"].get(STEM)
    if not entry or "calibration" not in entry:
        pytest.fail(f"{STEM} has no calibrated full-size reference: run `python -m medkit repro --calibrate`")
    return reference, entry


def test_full_size_power_target_a_drop_of_004_in_the_headline_is_flagged():
    reference, entry = _full_reference()
    values = {name: e["value"] for name, e in entry["values"].items()}
    headline = entry["values"]["test_auroc_fused"]
    drop = headline["tol"] + abs(headline["value"] - headline["calibration"]["center"])
    print(f"smallest drop of test_auroc_fused from its reference value that the check flags: {drop:.4f}")
    assert drop <= 0.04
    regressed = {STEM: {"status": "ok", "parameters": {}, "values": {**values,
                                                                     "test_auroc_fused": headline["value"] - 0.04}}}
    failed = [c for c in repro.compare(regressed, reference, only=[STEM]) if c.failed]
    assert [c.name for c in failed] == ["test_auroc_fused"]
    untouched = {STEM: {"status": "ok", "parameters": {}, "values": values}}
    assert not [c for c in repro.compare(untouched, reference, only=[STEM]) if c.failed]


def test_every_trained_value_of_the_capstone_is_calibrated():
    _, entry = _full_reference()
    trained = [n for n, e in entry["values"].items() if e["kind"] == "trained"]
    assert trained and all("calibration" in entry["values"][n] for n in trained)
    flagged, n_runs, _ = false_alarms(entry["values"])
    assert n_runs >= 8 and flagged / n_runs <= 0.25


# --------------------------------------------------------------------------- real runs at smoke size


def _run_smoke(tmp_path: Path, data_dir: Path | None = None, env: dict[str, str] | None = None) -> dict:
    build = tmp_path / "build"
    cmd = [sys.executable, "-m", "medkit", "run", "--only", "06", "--smoke", "--build-dir", str(build)]
    if data_dir is not None:
        cmd += ["-p", "data_dir", str(data_dir)]
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          cwd=repro.REPO_ROOT)
    results = json.loads((build / "results.json").read_text())
    assert results[STEM]["status"] == "ok", proc.stdout + proc.stderr
    smoke = repro.smoke_parameters_of(STEM)
    results[STEM]["parameters"] = smoke  # compared with the smoke reference whatever data_dir was
    return results


def _smoke_failures(results: dict) -> list:
    reference = repro.load_reference()
    if "calibration" not in reference["smoke"].get(STEM, {}):
        pytest.fail(f"{STEM} has no calibrated smoke reference: run `python -m medkit repro --calibrate --smoke`")
    return [c for c in repro.compare(results, reference, only=[STEM]) if c.failed]


def _cohort_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cohort"
    shutil.copytree(repro.REPO_ROOT / "data_samples", target)
    return target


@pytest.mark.xdist_group("calibration")
def test_other_cpu_kernels_pass_the_smoke_check(tmp_path):
    results = _run_smoke(tmp_path, env=calibration.VARIANTS["oneDNN off, 1 thread"])
    assert _smoke_failures(results) == []


@pytest.mark.xdist_group("calibration")
def test_a_model_without_its_image_information_is_flagged(tmp_path):
    import cv2

    cohort = _cohort_copy(tmp_path)
    for png in (cohort / "img").glob("*.png"):
        cv2.imwrite(str(png), np.full((128, 128), 110, np.uint8))  # the image modality carries nothing
    failed = _smoke_failures(_run_smoke(tmp_path, cohort))
    assert "test_auroc_image" in {c.name for c in failed}, repro.format_table(failed)


@pytest.mark.xdist_group("calibration")
def test_shuffled_labels_are_flagged(tmp_path):
    cohort = _cohort_copy(tmp_path)
    path = cohort / "texts.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    labels = [r["label"] for r in rows]
    np.random.default_rng(0).shuffle(labels)
    for row, label in zip(rows, labels, strict=True):
        row["label"] = label
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    failed = {c.name for c in _smoke_failures(_run_smoke(tmp_path, cohort))}
    assert {"test_auroc_fused", "test_auroc_audio"} & failed


def test_calibrate_runs_the_variants_and_resumes(tmp_path):
    """End to end on a tiny notebook whose 'trained' value depends on the seed: runs, spread, resume."""
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import numpy as np\nfrom medkit.glue import glue\n"
                    "value = 0.8 + 0.01 * np.random.default_rng(seed).normal()\n"
                    "glue('score', float(value), display=False)\n"
                    "glue('choice', 'a' if value > 0.8 else 'b', display=False)")]
    nb.metadata["kernelspec"] = {"name": "medkit", "display_name": "Python (medkit)", "language": "python"}
    nbformat.write(nb, notebooks / "99_tiny.ipynb")
    reference = {"full": {"99_tiny": {"parameters": {}, "values": {
        "score": {"value": 0.8, "tol": 0.05, "kind": "trained"},
        "choice": {"value": "a", "tol": 0.0, "kind": "trained"}}}}, "smoke": {}}
    variants = dict(list(calibration.VARIANTS.items())[:2])
    lines: list[str] = []
    new = calibration.calibrate(reference, "full", ["99_tiny"], seed_bases=2, notebook_dir=notebooks,
                                variants=variants, build_root=tmp_path / "runs", log=lines.append)
    entry = new["full"]["99_tiny"]
    runs = entry["values"]["score"]["calibration"]["runs"]
    expected = [0.8 + 0.01 * np.random.default_rng(s).normal() for s in (0, 0, 100, 100)]
    assert runs == pytest.approx(expected, abs=1e-12)  # the seed bases really reached the notebook
    assert [r["seed"] for r in entry["calibration"]["runs"]] == [0, 0, 100, 100]
    assert set(entry["values"]["choice"]["calibration"]["allowed"]) <= {"a", "b"}
    again: list[str] = []
    calibration.calibrate(reference, "full", ["99_tiny"], seed_bases=2, notebook_dir=notebooks,
                          variants=variants, build_root=tmp_path / "runs", log=again.append)
    assert all("reused" in line for line in again)
