"""Calibrations from several machines pool into one spread (`medkit repro --calibrate --add`)."""
from __future__ import annotations

import statistics

from medkit.book.calibration import derive, machine, pool, tolerance


def _values():
    return {"auc": {"value": 0.80, "kind": "trained"},
            "best": {"value": "late", "kind": "trained"},
            "n": {"value": 80, "kind": "exact"}}


def test_pooled_numbers_get_the_spread_of_all_runs():
    first = [{"auc": a, "best": "late"} for a in (0.80, 0.81, 0.79, 0.80)]
    second = [{"auc": a, "best": b} for a, b in ((0.85, "late"), (0.86, "average"), (0.84, "late"))]
    stored, fresh = derive(_values(), first), derive(_values(), second)
    pooled = pool(stored, fresh, offset=len(first))
    every = [r["auc"] for r in first + second]
    cal = pooled["auc"]["calibration"]
    assert cal["runs"] == every and cal["n"] == 7
    assert cal["center"] == statistics.fmean(every)
    assert pooled["auc"]["tol"] == tolerance(every, m=1)[0]
    assert pooled["auc"]["tol"] > stored["auc"]["tol"]  # the second machine widens the spread
    assert cal["run_ids"] == list(range(7))
    assert pooled["best"]["calibration"]["allowed"] == ["average", "late"]
    assert pooled["best"]["calibration"]["n"] == 7
    assert pooled["n"] == _values()["n"]  # values that are not trained are left alone


def test_a_value_calibrated_for_the_first_time_keeps_this_machines_runs():
    fresh = derive(_values(), [{"auc": a, "best": "late"} for a in (0.85, 0.86, 0.84)])
    pooled = pool({"auc": {"value": 0.80, "kind": "trained"}}, fresh, offset=4)
    assert pooled["auc"] == fresh["auc"]


def test_machine_names_the_cpu():
    assert "cores" in machine()
