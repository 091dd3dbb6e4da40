"""``python -m medkit repro --calibrate``: measure how much trained values move, and derive their tolerances.

A trained model's metrics are bit-identical on one machine (seeds and
deterministic ops), but another machine's floating-point kernels change the
last bits, and training amplifies them: a chaotic optimisation turns them
into a different model. A reproducibility check therefore needs the spread
of each trained value, measured, not guessed. Calibration re-executes every
notebook with trained values (kind ``"trained"`` in the reference) under

* the kernel variants one machine offers: oneDNN on and off
  (``TF_ENABLE_ONEDNN_OPTS``) and 1 or 2 intra-op threads
  (``TF_NUM_INTRAOP_THREADS``), stand-ins for other CPUs;
* several seed bases (the notebook's ``seed`` parameter shifted by 100):
  other seeds are what a change of kernels amounts to after a few epochs,

and records every run's values next to the reference, in
``reproducibility/expected.json``. The rule that turns runs into a tolerance
(:func:`derive`):

* a number: the check compares the new value with the mean of the runs and
  allows ``max(q * sd * sqrt(1 + 1/n), FLOOR)``, where ``sd`` is the runs'
  standard deviation, ``n`` their number and ``q`` the Student-t quantile
  ``t(n - 1)`` at ``1 - ALPHA / (2 m)``, ``m`` being the number of calibrated
  numbers of the notebook: a prediction interval for one new run, with a
  Bonferroni correction so that the whole notebook raises a false alarm with
  probability at most ``ALPHA``;
* a choice (a string or boolean, such as the chosen fusion): the outcomes the
  runs produced (and the reference's) are allowed, any other is a drift.

:func:`false_alarms` re-checks each calibration run against the tolerances
derived from the others (leave one out), and :func:`detectable_change` says
the smallest change of a value that the check flags.

Examples
--------
>>> entry = derive_entry({"value": 0.9, "tol": 0.05, "kind": "trained"}, [0.90, 0.91, 0.89, 0.905], m=1)
>>> entry["calibration"]["n"], round(entry["tol"], 4)
(4, 0.0304)
>>> derive_entry({"value": "late", "tol": 0.0, "kind": "trained"}, ["late", "concat"], m=1)["calibration"]
{'allowed': ['concat', 'late'], 'n': 2}
"""
from __future__ import annotations

import json
import math
import platform
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ALPHA = 0.05  # family-wise false-alarm rate per notebook
FLOOR = 0.002  # the smallest tolerance of a calibrated number
SEED_STEP = 100  # seed bases: seed, seed + 100, ...
BUILD_ROOT = Path(__file__).resolve().parents[2] / "_build" / "calibration"

#: Kernel variants: name -> environment. The first is the default set-up.
VARIANTS: dict[str, dict[str, str]] = {
    "oneDNN on, 2 threads": {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "2", "OMP_NUM_THREADS": "2"},
    "oneDNN off, 2 threads": {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "2", "OMP_NUM_THREADS": "2"},
    "oneDNN on, 1 thread": {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"},
    "oneDNN off, 1 thread": {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"},
}

RULE = (f"mean of the runs ± max(q·sd·√(1+1/n), {FLOOR}), q = Student-t quantile at "
        f"1 − {ALPHA}/(2m) for m calibrated numbers")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def t_quantile(p: float, df: int) -> float:
    """The Student-t quantile (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(p, df))


def tolerance(values: list[float], m: int) -> tuple[float, float, float]:
    """``(tolerance, q, sd)`` of the rule for a new run, from ``values`` of the runs and ``m`` numbers checked."""
    n = len(values)
    sd = statistics.stdev(values)
    q = t_quantile(1 - ALPHA / (2 * max(m, 1)), n - 1)
    return max(q * sd * math.sqrt(1 + 1 / n), FLOOR), q, sd


def derive_entry(entry: dict[str, Any], runs: list[Any], m: int) -> dict[str, Any]:
    """A reference entry with its calibration (``runs`` are the calibration runs' values of it).

    Parameters
    ----------
    entry : dict
        The value's reference entry (``value``, ``tol``, ``kind``, ...).
    runs : list
        Its value in each calibration run (numbers, or strings/booleans for a choice).
    m : int
        Number of calibrated numbers in the notebook (the Bonferroni factor).

    Returns
    -------
    dict
        A copy with ``tol`` derived and ``calibration`` holding the spread.
    """
    new = dict(entry)
    if not runs:
        raise ValueError("no calibration runs for this value.")
    if all(_is_number(r) for r in runs) and _is_number(entry.get("value")):
        values = [float(r) for r in runs]
        n = len(values)
        if n < 3:
            raise ValueError(f"{n} run(s): a spread needs at least 3 calibration runs.")
        tol, q, sd = tolerance(values, m)
        new["tol"] = tol
        new["calibration"] = {"center": statistics.fmean(values), "sd": sd, "min": min(values),
                              "max": max(values), "n": n, "q": q, "rule": RULE, "runs": values}
        return new
    outcomes = sorted({json.dumps(r) for r in runs} | {json.dumps(entry.get("value"))})
    new["tol"] = 0.0
    new["calibration"] = {"allowed": [json.loads(o) for o in outcomes], "n": len(runs)}
    return new


def derive(values: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Calibrate every ``"trained"`` entry of one notebook's ``values`` from the runs' glued values."""
    trained = [n for n, e in values.items() if e.get("kind") == "trained"]
    missing = [(i, n) for i, r in enumerate(runs) for n in trained if n not in r]
    if missing:
        i, name = missing[0]
        raise ValueError(f"calibration run {i} did not glue {name!r}: every run must glue every trained value.")
    m = sum(_is_number(values[n]["value"]) for n in trained)
    out = dict(values)
    for name in trained:
        # A value that belongs to a choice (``depends_on``) is measured on the runs that made the
        # reference's choice, since it is only compared when that choice is made again.
        deps = values[name].get("depends_on") or []
        deps = [deps] if isinstance(deps, str) else deps
        ids = [i for i, r in enumerate(runs) if all(r.get(d) == values[d]["value"] for d in deps if d in values)]
        ids = ids if len(ids) >= 3 else list(range(len(runs)))
        out[name] = derive_entry(values[name], [runs[i][name] for i in ids], m)
        out[name]["calibration"]["run_ids"] = ids  # which of the notebook's runs these are
    return out


def detectable_change(entry: dict[str, Any]) -> tuple[float, float] | None:
    """Smallest change from the calibration mean flagged half of the time, and 80% of the time."""
    cal = entry.get("calibration") or {}
    if "center" not in cal:
        return None
    return entry["tol"], entry["tol"] + 0.8416 * cal["sd"] * math.sqrt(1 + 1 / cal["n"])


def false_alarms(values: dict[str, dict[str, Any]]) -> tuple[int, int, dict[str, int]]:
    """Leave-one-out check of the calibration runs: ``(runs flagged, runs, flags per value)``.

    Each run is compared with the tolerances the *other* runs give (same
    rule, same Bonferroni factor): the fraction of runs with at least one
    flag estimates the check's false-alarm rate on a machine like those of
    the calibration. A value measured on a subset of the runs (one that
    belongs to a choice) is checked on the runs of that subset.
    """
    numbers = {n: e["calibration"] for n, e in values.items()
               if "runs" in (e.get("calibration") or {}) and "center" in e["calibration"]}
    if not numbers:
        return 0, 0, {}
    m = len(numbers)
    all_ids = sorted({i for c in numbers.values() for i in c.get("run_ids", range(len(c["runs"])))})
    flags: dict[str, int] = {}
    flagged_ids: set[int] = set()
    for name, cal in numbers.items():
        runs = cal["runs"]
        ids = cal.get("run_ids", list(range(len(runs))))
        if len(runs) < 4:
            continue
        for k, run_id in enumerate(ids):
            others = runs[:k] + runs[k + 1:]
            tol, _, _ = tolerance(others, m)
            if abs(runs[k] - statistics.fmean(others)) > tol:
                flags[name] = flags.get(name, 0) + 1
                flagged_ids.add(run_id)
    return len(flagged_ids), len(all_ids), flags


# --------------------------------------------------------------------------- running


def run_variants(stem: str, *, smoke: bool, seed_bases: int, notebook_dir: Path,
                 variants: dict[str, dict[str, str]] = VARIANTS, build_root: Path | None = None,
                 log: Any = print) -> list[dict[str, Any]]:
    """Execute notebook ``stem`` once per (variant, seed base) in fresh processes; return the runs.

    Each run is ``{"variant", "seed", "duration_s", "values"}``. A run that
    fails stops the calibration with the notebook's error: a spread measured
    on the runs that happened to work would be a wrong spread.
    """
    from medkit.book.runner import smoke_parameters

    notebook = notebook_dir / f"{stem}.ipynb"
    params = smoke_parameters(notebook) if smoke else {}
    base_seed = _default_seed(notebook)
    plans = []
    for k in range(seed_bases):
        for name, env in variants.items():
            plans.append((name, env, None if base_seed is None else base_seed + SEED_STEP * k))
        if base_seed is None:
            break  # no seed parameter: only the kernel variants
    runs: list[dict[str, Any]] = []
    root = (build_root or BUILD_ROOT) / ("smoke" if smoke else "full") / stem
    for i, (name, env, seed) in enumerate(plans):
        # Each run keeps its results under _build/calibration/, keyed by what it ran: a calibration that
        # stops half-way resumes, and a run is reused only if the notebook, the package and the data are
        # byte for byte those it ran with.
        build = root / f"{_slug(name)}-seed{seed}"
        done = build / "calibration-run.json"
        fingerprint = code_fingerprint(notebook)
        if done.exists():
            saved = json.loads(done.read_text())
            if saved.get("fingerprint") == fingerprint:
                runs.append(saved["run"])
                log(f"  {stem} [{'smoke' if smoke else 'full'}] run {i + 1}/{len(plans)}: {name}, seed {seed}: "
                    "reused (same code and data)")
                continue
        cmd = [sys.executable, "-m", "medkit", "run", "--only", stem, "--notebook-dir", str(notebook_dir),
               "--build-dir", str(build)]
        if smoke:
            cmd.append("--smoke")
        if seed is not None and seed != base_seed:
            cmd += ["-p", "seed", str(seed)]
        if (build / "results.json").exists():
            (build / "results.json").unlink()
        start = time.perf_counter()
        proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        results_path = build / "results.json"
        entry = json.loads(results_path.read_text()).get(stem, {}) if results_path.exists() else {}
        if proc.returncode != 0 or entry.get("status") != "ok":
            # the runner's report (failing cell, error, kernel log's path), else the notebook's error
            raise SystemExit(f"calibration run of {stem} ({name}, seed {seed}) failed:\n"
                             f"{proc.stderr.strip()[-2000:] or entry.get('error')}\n"
                             f"kernel log: {build / 'logs' / (stem + '.log')}")
        if code_fingerprint(notebook) != fingerprint:
            raise SystemExit(f"calibration of {stem}: the notebook, the package or the data changed while run "
                             f"{i + 1} was executing; run the calibration again (finished runs are reused)")
        run = {"variant": name, "seed": seed, "duration_s": round(seconds, 1), "values": entry["values"],
               "params": {**params, **({} if seed in (None, base_seed) else {"seed": seed})}}
        done.write_text(json.dumps({"fingerprint": fingerprint, "run": run}))
        runs.append(run)
        log(f"  {stem} [{'smoke' if smoke else 'full'}] run {i + 1}/{len(plans)}: {name}, seed {seed}: "
            f"{seconds:.0f} s")
    return runs


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def code_fingerprint(notebook: Path) -> str:
    """SHA-256 of what a run's values depend on: the notebook, the taught modules and the bundled data."""
    import hashlib

    from medkit import REPO_ROOT

    digest = hashlib.sha256()
    files = [notebook, *sorted((REPO_ROOT / "medkit").glob("*.py")),
             *sorted((REPO_ROOT / "data_samples").glob("*.csv"))]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _default_seed(notebook: Path) -> int | None:
    """The value of ``seed = ...`` in the notebook's parameters cell, or ``None``."""
    import ast

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            for node in tree.body:
                if (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "seed"):
                    return int(ast.literal_eval(node.value))
            return None
    return None


def machine() -> str:
    """This machine's CPU model and core count: other CPUs run other floating-point kernels."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform's answer stands
    return f"{model}, {os.cpu_count()} cores"


def pool(stored: dict[str, dict[str, Any]], fresh: dict[str, dict[str, Any]], offset: int
         ) -> dict[str, dict[str, Any]]:
    """One notebook's values calibrated on the stored runs and the fresh runs together.

    Parameters
    ----------
    stored : dict
        The notebook's calibrated values as the reference holds them (runs of earlier machines).
    fresh : dict
        The same values calibrated (:func:`derive`) on this machine's runs.
    offset : int
        How many runs the stored calibration has: the fresh runs' ids follow them.

    Returns
    -------
    dict
        Numbers get the spread of all runs (:func:`derive_entry`); a choice allows every
        outcome either calibration saw.

    Examples
    --------
    >>> old = derive({"auc": {"value": 0.80, "kind": "trained"}}, [{"auc": v} for v in (0.80, 0.81, 0.79)])
    >>> new = derive({"auc": {"value": 0.80, "kind": "trained"}}, [{"auc": v} for v in (0.85, 0.86, 0.84)])
    >>> pooled = pool(old, new, offset=3)["auc"]["calibration"]
    >>> pooled["n"], round(pooled["center"], 3), pooled["run_ids"]
    (6, 0.825, [0, 1, 2, 3, 4, 5])
    """
    trained = [n for n, e in fresh.items() if e.get("kind") == "trained"]
    m = sum(_is_number(fresh[n]["value"]) for n in trained)
    out = dict(fresh)
    for name in trained:
        before = stored.get(name, {}).get("calibration")
        now = fresh[name]["calibration"]
        if not before:
            continue
        ids = list(before.get("run_ids", [])) + [offset + i for i in now.get("run_ids", [])]
        if "runs" in now and "runs" in before:
            out[name] = derive_entry(fresh[name], list(before["runs"]) + list(now["runs"]), m)
        else:
            out[name] = derive_entry(fresh[name], [*before.get("allowed", []), *now.get("allowed", [])], m)
            out[name]["calibration"]["n"] = before.get("n", 0) + now.get("n", 0)
        out[name]["calibration"]["run_ids"] = ids
    return out


def calibrate(reference: dict[str, Any], section: str, stems: list[str], *, seed_bases: int,
              notebook_dir: Path, variants: dict[str, dict[str, str]] = VARIANTS,
              build_root: Path | None = None, log: Any = print, add: bool = False) -> dict[str, Any]:
    """Run the variants of each notebook and return the reference with its ``section`` calibrated.

    ``add`` keeps the stored runs (from other machines) and adds this machine's to them
    (:func:`pool`); otherwise this machine's runs replace them.
    """
    new = json.loads(json.dumps(reference))
    for stem in stems:
        entry = new.get(section, {}).get(stem)
        if entry is None:
            raise SystemExit(f"{stem} has no '{section}' reference yet: record it first with "
                             f"`python -m medkit repro --run --update{' --smoke' if section == 'smoke' else ''}`.")
        if not any(v.get("kind") == "trained" for v in entry["values"].values()):
            log(f"  {stem}: no trained values, nothing to calibrate")
            continue
        runs = run_variants(stem, smoke=section == "smoke", seed_bases=seed_bases, notebook_dir=notebook_dir,
                            variants=variants, build_root=build_root, log=log)
        here = machine()
        listed = [{**{k: r[k] for k in ("variant", "seed", "duration_s")}, "machine": here} for r in runs]
        stored_runs = (entry.get("calibration") or {}).get("runs", []) if add else []
        fresh = derive(entry["values"], [r["values"] for r in runs])
        entry["values"] = pool(entry["values"], fresh, len(stored_runs)) if stored_runs else fresh
        flagged, n, _ = false_alarms(entry["values"])
        entry["calibration"] = {
            "runs": [{"machine": "an earlier calibration", **r} for r in stored_runs] + listed,
            "rule": RULE, "alpha": ALPHA, "floor": FLOOR,
            "leave_one_out_false_alarms": f"{flagged} of {n}",
        }
    return new
