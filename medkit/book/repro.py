"""``python -m medkit repro``: compare the values the notebooks glued with the stored reference.

Checking that cells run is not enough for a teaching kit: the numbers on the
pages must be the numbers the code produces, today and on the next machine.
``reproducibility/expected.json`` stores, for every notebook, each value it
glues with a tolerance and a kind::

    {"full":  {"01_cross_entropy": {"parameters": {},
                                    "values": {"ce_article_example":
                                               {"value": 2.302585092994046, "tol": 1e-09,
                                                "kind": "closed-form"}}}},
     "smoke": {...the same, for ``python -m medkit run --smoke``...}}

A value passes when ``|got - expected| <= tol * max(1, |expected|)`` (element
by element for lists; strings and booleans must be equal). The section a
notebook is compared with follows from the parameters it was executed with:
none (``full``) or its smoke parameters (``smoke``); a run with other
parameters has no reference and fails the check.

Commands::

    python -m medkit repro                  # compare _build/results.json, print the table
    python -m medkit repro --run            # execute the notebooks first, then compare
    python -m medkit repro --smoke --run    # the same with smoke parameters (into _build/smoke)
    python -m medkit repro --update         # rewrite the reference from the results, print the diff
    python -m medkit repro --kinds closed-form,exact   # check only some kinds of values

The exit status is 1 on any drift, missing or unreferenced value, failed
notebook or run without a reference. ``--update`` keeps the tolerance, kind
and note of every value already in the reference; new values get the default
of ``reproducibility/rules.json`` (:func:`load_rules`), to be edited by hand where a looser, stated
tolerance is right.

At site build time :func:`write_report_page` writes the execution report
page and fills the errata table into the staged copy of the book.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medkit import REPO_ROOT
from medkit.book.errata import load_rows as _errata_rows_from_file

REFERENCE_PATH = REPO_ROOT / "reproducibility" / "expected.json"
SECTIONS = ("full", "smoke")

#: What each kind of value means, and so why its tolerance is what it is.
KINDS: dict[str, str] = {
    "closed-form": "a worked example or other deterministic float64 computation: exact to 1e-9",
    "float32": "computed in 32-bit floats (Keras, TensorFlow, librosa, OpenCV): 1e-6, or a stated looser "
               "tolerance where such numbers feed a rank statistic (one swapped pair moves an AUROC by 1/(P*N))",
    "trained": "a metric of a trained model: bit-identical on one machine, but the bits depend on the "
               "CPU kernels (oneDNN, AVX-512), so other machines get a stated, looser tolerance",
    "numerical": "the error of a numerical approximation (finite differences): only its size is stable, 1e-6",
    "exact": "a string, boolean or name: must be equal",
    "timing": "a wall-clock time: shown for information, never compared (it differs on every run)",
}

#: Value names that are wall-clock times (kind "timing" when new to the reference).
TIMING_PATTERNS = ("*_seconds", "*seconds*", "*wall_time*", "*elapsed*")


def is_timing(name: str) -> bool:
    """Whether a glued value is a wall-clock time (never compared, not expected to be deterministic)."""
    return any(fnmatch.fnmatch(name, p) for p in TIMING_PATTERNS)

#: Where the defaults for values new to the reference live: chapter content, kept beside the reference.
RULES_PATH = REPO_ROOT / "reproducibility" / "rules.json"


def load_rules(path: Path = RULES_PATH) -> list[tuple[str, str, str, float]]:
    """The default ``(notebook pattern, value pattern, kind, tolerance)`` rules, first match wins.

    Raises
    ------
    ValueError
        The file is not valid JSON, or a rule lacks a field or names an unknown kind
        (the message names the file and the rule).
    """
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))["rules"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a rules file ({exc})") from None
    out = []
    for k, rule in enumerate(rules):
        try:
            kind, tol = rule["kind"], float(rule["tol"])
            out.append((str(rule["notebook"]), str(rule["value"]), kind, tol))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: rule {k} needs notebook, value, kind and a numeric tol ({exc})") from None
        if kind not in KINDS:
            raise ValueError(f"{path}: rule {k} has kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return out


FAILING = {"DRIFT", "MISSING", "NEW", "FAILED", "NO REFERENCE", "NOT RUN"}


# --------------------------------------------------------------------------- comparing


@dataclass
class Check:
    """One row of the table: a value of a notebook against its reference."""

    stem: str
    name: str
    expected: Any
    got: Any
    tol: float | None
    kind: str
    status: str  # ok, DRIFT, MISSING, NEW, FAILED, NO REFERENCE, NOT RUN
    detail: str = ""
    section: str = ""
    tol_source: str = ""  # where the tolerance comes from: measured (calibration) or stated

    @property
    def failed(self) -> bool:
        return self.status in FAILING


_MISSING = object()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def deviation(expected: Any, got: Any) -> float:
    """The largest scaled difference ``|got - expected| / max(1, |expected|)``; ``inf`` when not comparable."""
    if _is_number(expected) and _is_number(got):
        e, g = float(expected), float(got)
        if math.isnan(e) or math.isnan(g):
            return 0.0 if math.isnan(e) and math.isnan(g) else math.inf
        if math.isinf(e) or math.isinf(g):
            return 0.0 if e == g else math.inf
        return abs(g - e) / max(1.0, abs(e))
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(expected) != len(got):
            return math.inf
        return max((deviation(e, g) for e, g in zip(expected, got, strict=True)), default=0.0)
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            return math.inf
        return max((deviation(expected[k], got[k]) for k in expected), default=0.0)
    return 0.0 if expected == got and type(expected) is type(got) else math.inf


def matches(expected: Any, got: Any, tol: float) -> bool:
    """Whether ``got`` reproduces ``expected`` within ``tol`` (relative above 1, absolute below)."""
    return deviation(expected, got) <= tol


def default_entry(stem: str, name: str, value: Any) -> dict[str, Any]:
    """The reference entry a value new to the reference gets."""
    if is_timing(name):
        return {"value": value, "tol": 0.0, "kind": "timing"}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"value": value, "tol": 1e-9, "kind": "closed-form"}  # counts and sizes are exact
    if not (_is_number(value) or (isinstance(value, (list, tuple, dict)) and _numeric_container(value))):
        return {"value": value, "tol": 0.0, "kind": "exact"}
    for stem_pattern, name_pattern, kind, tol in load_rules():
        if fnmatch.fnmatch(stem, stem_pattern) and fnmatch.fnmatch(name, name_pattern):
            return {"value": value, "tol": tol, "kind": kind}
    return {"value": value, "tol": 1e-9, "kind": "closed-form"}


def _numeric_container(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(_is_number(v) or (isinstance(v, (list, tuple, dict)) and _numeric_container(v)) for v in items)


def smoke_parameters_of(stem: str, notebook_dir: Path | None = None) -> dict[str, Any] | None:
    """The smoke parameters the notebook declares, or ``None`` if the notebook is not there."""
    from medkit.book.runner import NOTEBOOK_DIR, smoke_parameters

    path = (notebook_dir or NOTEBOOK_DIR) / f"{stem}.ipynb"
    return smoke_parameters(path) if path.exists() else None


def section_for(stem: str, entry: dict[str, Any], reference: dict[str, Any],
                notebook_dir: Path | None = None) -> str | None:
    """Which reference section a run of ``stem`` is compared with, from the parameters it ran with."""
    params = entry.get("parameters") or {}
    for section in SECTIONS:
        recorded = reference.get(section, {}).get(stem)
        if recorded is not None and recorded.get("parameters", {}) == params:
            return section
    if not params:
        return "full"
    if params == smoke_parameters_of(stem, notebook_dir):
        return "smoke"
    return None


def compare(results: dict[str, Any], reference: dict[str, Any], *, only: list[str] | None = None,
            kinds: set[str] | None = None, expect_all: bool = True,
            notebook_dir: Path | None = None) -> list[Check]:
    """Compare ``results`` (the content of results.json) with ``reference`` (of expected.json).

    ``expect_all``: notebooks in the reference's ``full`` section that were not run count as failures.
    ``kinds``: check only values of these kinds (new values are then not reported).
    """
    def wanted(stem: str) -> bool:
        return not only or any(p in stem for p in only)

    checks: list[Check] = []
    for stem in sorted(results):
        if not wanted(stem):
            continue
        entry = results[stem]
        section = section_for(stem, entry, reference, notebook_dir)
        got_values = entry.get("values", {})
        if section is None or stem not in reference.get(section, {}):
            why = (f"executed with parameters {entry.get('parameters')}, which have no reference"
                   if section is None else
                   f"no '{section}' reference for this notebook: run `python -m medkit repro --update"
                   f"{' --smoke' if section == 'smoke' else ''}`")
            checks.append(Check(stem, "(notebook)", None, None, None, "", "NO REFERENCE", why, section or ""))
            continue
        ref_values = reference[section][stem].get("values", {})
        notebook_failed = entry.get("status") != "ok"
        for name, ref in ref_values.items():
            kind, tol = ref.get("kind", "closed-form"), float(ref.get("tol", 0.0))
            if kinds and kind not in kinds:
                continue
            got = got_values.get(name, _MISSING)
            if got is _MISSING:
                status = "FAILED" if notebook_failed else "MISSING"
                detail = entry.get("error", "") if notebook_failed else "not glued by this run"
                checks.append(Check(stem, name, ref["value"], None, tol, kind, status, detail, section))
                continue
            if kind == "timing":
                checks.append(Check(stem, name, ref["value"], got, None, kind, "timing", "not compared", section))
                continue
            changed = changed_dependencies(ref, ref_values, got_values)
            if changed:
                checks.append(Check(stem, name, ref["value"], got, tol, kind, "ok",
                                    "not compared: it belongs to " + ", ".join(changed) + " (checked there)",
                                    section))
                continue
            check = _check_value(stem, name, ref, got, tol, kind, section)
            cal = ref.get("calibration") or {}
            check.tol_source = (f"any outcome of {cal['n']} calibration runs" if "allowed" in cal else
                                f"measured: {cal['n']} calibration runs" if cal else f"stated for {kind}")
            checks.append(check)
        if not kinds:
            for name in got_values:
                if name not in ref_values:
                    checks.append(Check(stem, name, None, got_values[name], None, "", "NEW",
                                        "not in the reference: run `python -m medkit repro --update`", section))
        if notebook_failed and not any(c.stem == stem and c.status == "FAILED" for c in checks):
            checks.append(Check(stem, "(notebook)", None, None, None, "", "FAILED", entry.get("error", ""), section))
    if expect_all:
        for stem in sorted(reference.get("full", {})):
            if wanted(stem) and stem not in results:
                checks.append(Check(stem, "(notebook)", None, None, None, "", "NOT RUN",
                                    "in the reference but not in the results", "full"))
    return checks


def changed_dependencies(ref: dict[str, Any], ref_values: dict[str, Any], got_values: dict[str, Any]) -> list[str]:
    """The choices a value depends on (``depends_on``) that came out differently from the reference.

    The chosen model's threshold, say, is only comparable with the reference's
    when the same model was chosen; if another (allowed) model was chosen, the
    choice itself is what the check judges.
    """
    dependencies = ref.get("depends_on") or []
    if isinstance(dependencies, str):
        dependencies = [dependencies]
    changed = []
    for dep in dependencies:
        if dep in ref_values and dep in got_values and got_values[dep] != ref_values[dep]["value"]:
            changed.append(f"{dep} = {got_values[dep]!r} (reference {ref_values[dep]['value']!r})")
    return changed


def _check_value(stem: str, name: str, ref: dict[str, Any], got: Any, tol: float, kind: str,
                 section: str) -> Check:
    """One value against its reference entry: a calibrated spread, a set of allowed outcomes, or a tolerance."""
    calibration = ref.get("calibration")
    if calibration and "allowed" in calibration:
        allowed = calibration["allowed"]
        ok = any(deviation(a, got) == 0 for a in allowed)
        detail = "" if ok else f"{got!r} is none of the outcomes seen in calibration: {allowed}"
        return Check(stem, name, ref["value"], got, tol, kind, "ok" if ok else "DRIFT", detail, section)
    if calibration and "center" in calibration and _is_number(got):
        change = float(got) - float(calibration["center"])
        ok = abs(change) <= tol
        # the tolerance rule is in the reference file and on the report page, not repeated on every row
        detail = "" if ok else (f"changed by {change:+.4f} from the calibration mean {calibration['center']:.4f}, "
                                f"more than its tolerance ±{tol:.4f}")
        return Check(stem, name, ref["value"], got, tol, kind, "ok" if ok else "DRIFT", detail, section)
    dev = deviation(ref["value"], got)
    status = "ok" if dev <= tol else "DRIFT"
    detail = "" if dev == 0 else (f"dev {dev:.1e}" if math.isfinite(dev) else "differs")
    return Check(stem, name, ref["value"], got, tol, kind, status, detail, section)


# --------------------------------------------------------------------------- formatting


def format_value(value: Any, width: int = 22) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = repr(value) if len(repr(value)) <= width else f"{value:.12g}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(format_value(v, width) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_tol(check: Check) -> str:
    if check.tol is None:
        return "-"
    return "exact" if check.tol == 0 else f"{check.tol:.3g}"


def _quoted(value: Any) -> str:
    """A choice's value in a sentence: strings in quotation marks, at most 40 characters."""
    return f"“{_md_value(value, 40)}”" if isinstance(value, str) else _md_value(value, 40)


def calibration_markdown(reference: dict[str, Any], section: str, stems: list[str], lang: str = "en") -> list[str]:
    """The report page's section on measured spreads: per calibrated value its runs, tolerance and power.

    One narrow table per notebook (value, mean ± sd, tolerance, smallest change flagged; the range of
    the runs is in the reference file); the
    choices (values that may be any outcome of the runs) and the leave-one-out flags are sentences.
    """
    from medkit.book.calibration import detectable_change, false_alarms

    zh = _zh(lang)
    quoted = _choice_quoter(zh)
    lines: list[str] = []
    for stem in stems:
        entry = reference.get(section, {}).get(stem) or {}
        cal = entry.get("calibration")
        if not cal:
            continue
        values = entry.get("values", {})
        flagged, n_runs, flags = false_alarms(values)
        variants = sorted({r["variant"] for r in cal["runs"]})
        seeds = sorted({r["seed"] for r in cal["runs"] if r["seed"] is not None})
        flag_list = [(n, k) for n, k in sorted(flags.items()) if k]
        if zh:
            lines += [f"### `{stem}`（{section} 参数）", "",
                      f"{len(cal['runs'])} 次运行：内核变体 {'、'.join(_variant_zh(v) for v in variants)}"
                      + (f"；种子基数 {'、'.join(map(str, seeds))}" if seeds else "") + "。"
                      f"容差规则：{_rule_zh(cal['rule'])}。留一法误报（把一次运行与由其余运行得出的容差比较）："
                      f"**{n_runs} 次运行中有 {flagged} 次**"
                      + ("（" + "、".join(f"`{n}` {k} 次" for n, k in flag_list) + "）" if flag_list else "")
                      + "。", ""]
        else:
            lines += [f"### `{stem}` ({section} parameters)", "",
                      f"{len(cal['runs'])} runs: kernel variants {', '.join(variants)}"
                      + (f"; seed bases {', '.join(map(str, seeds))}" if seeds else "") + ". "
                      f"Tolerance rule: {cal['rule']}. Leave-one-out false alarms (a run checked against the "
                      f"tolerances of the others): **{flagged} of {n_runs} runs**"
                      + (" (" + ", ".join(f"`{n}` in {k}" for n, k in flag_list) + ")" if flag_list else "")
                      + ".", ""]
        rows, choices = [], []
        for name, e in values.items():
            c = e.get("calibration")
            if not c:
                continue
            if "allowed" in c:
                allowed = ("、" if zh else ", ").join(quoted(name, a) for a in c["allowed"])
                choices.append(f"- `{name}`：参考值 {quoted(name, e['value'])}；各次运行得到 {allowed}，"
                               "其中任何一个都算通过。" if zh else
                               f"- `{name}`: reference {quoted(name, e['value'])}; the runs produced {allowed}, "
                               "and any of these passes.")
                continue
            mdc = detectable_change(e)
            rows.append(f"| `{name}` | {c['center']:.4f} ± {c['sd']:.2g} | ±{e['tol']:.3g} | "
                        f"{mdc[0]:.3g} / {mdc[1]:.3g} |")
        if rows:
            header = ("| 值 | 各次运行的均值 ± 标准差 | 容差 | 能检出的最小变化（50% / 80%） |" if zh else
                      "| Value | Mean ± sd of the runs | Tolerance | Smallest change flagged (50% / 80%) |")
            lines += [header, "|---|---|---|---|", *rows, ""]
        if choices:
            lines += ["选择：" if zh else "Choices:", "", *choices, ""]
    return lines


def _choice_quoter(zh: bool) -> Any:
    """How a choice's value is quoted: in Chinese, the English value followed by what the Chinese pages show."""
    if not zh:
        return lambda name, value: _quoted(value)
    from medkit.book import i18n

    try:
        glue = i18n.load_glue_catalog()
    except i18n.CatalogError:
        glue = i18n.GlueCatalog({})

    def quoted(name: str, value: Any) -> str:
        translated = glue.translate_value(name, value)
        if translated is None or translated == value:
            return _quoted(value)
        shown = translated if isinstance(translated, str) else "、".join(translated)
        return f"{_quoted(value)}（{_md_value(shown, 30)}）"

    return quoted


def format_table(checks: list[Check]) -> str:
    """The plain-text table: notebook, value, expected, got, tolerance, status."""
    header = ("notebook", "value", "expected", "got", "tolerance", "status")
    rows = [(c.stem, c.name, format_value(c.expected), format_value(c.got), format_tol(c),
             c.status + (f" ({c.detail})" if c.detail and c.status != "ok" else "")) for c in checks]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    widths[-1] = len(header[-1])  # the last column is not padded
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * 6]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(out)


def summary(checks: list[Check]) -> str:
    failed = [c for c in checks if c.failed]
    counts: dict[str, int] = {}
    for c in failed:
        counts[c.status] = counts.get(c.status, 0) + 1
    ok = sum(c.status == "ok" for c in checks)
    timings = sum(c.status == "timing" for c in checks)
    notebooks = len({c.stem for c in checks})
    text = f"{ok} of {len(checks) - timings} value(s) reproduced in {notebooks} notebook(s)"
    if timings:
        text += f" ({timings} wall-clock time(s) not compared)"
    if failed:
        text += "; " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return text


# --------------------------------------------------------------------------- reading and updating


def load_reference(path: Path = REFERENCE_PATH) -> dict[str, Any]:
    if not path.exists():
        return {section: {} for section in SECTIONS}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc})") from exc
    for section in SECTIONS:
        data.setdefault(section, {})
    return data


def load_results(path: Path) -> dict[str, Any]:
    """The entries of a ``results.json``; a missing or corrupt file stops with a message naming it."""
    from medkit.book.runner import read_results

    if not path.exists():
        raise SystemExit(f"{path} does not exist: execute the notebooks first (`python -m medkit run`, "
                         "or `python -m medkit repro --run`)")
    try:
        return read_results(path)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def dumps_reference(reference: dict[str, Any]) -> str:
    """The reference as JSON with one line per value, so that a diff of the file reads like the table."""
    def one(x: Any) -> str:
        return json.dumps(x, ensure_ascii=False)

    head = {k: v for k, v in reference.items() if k not in SECTIONS}
    parts = [f"  {one(k)}: {json.dumps(v, indent=2, ensure_ascii=False).replace(chr(10), chr(10) + '  ')}"
             for k, v in head.items()]
    for section in SECTIONS:
        notebooks = []
        for stem, entry in sorted(reference.get(section, {}).items()):
            values = ",\n".join(f"        {one(name)}: {one(v)}" for name, v in entry.get("values", {}).items())
            extra = "".join(f"      {one(key)}: {one(value)},\n" for key, value in entry.items()
                            if key not in ("parameters", "values"))  # e.g. the notebook's calibration runs
            notebooks.append(f"    {one(stem)}: {{\n      \"parameters\": {one(entry.get('parameters', {}))},\n"
                             f"{extra}      \"values\": {{\n{values}\n      }}\n    }}")
        body = ",\n".join(notebooks)
        parts.append(f"  {one(section)}: {{\n{body}\n  }}" if notebooks else f"  {one(section)}: {{}}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    assert json.loads(text) == json.loads(json.dumps({**head, **{s: reference.get(s, {}) for s in SECTIONS}}))
    return text


def write_reference(reference: dict[str, Any], path: Path = REFERENCE_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_reference(reference))


REFERENCE_ABOUT = {
    "about": "Reference values of every glued value, per notebook, checked by `python -m medkit repro` "
             "(make book) and, for the closed-form ones, by tests/test_repro.py (make test). "
             "Refresh on purpose with `python -m medkit repro --run --update` (full parameters) and "
             "`python -m medkit repro --smoke --run --update` (smoke parameters); the diff is printed. "
             "Tolerances and kinds of existing values are kept: edit them here.",
    "tolerance": "a value passes when |got - expected| <= tol * max(1, |expected|), element by element "
                 "for lists; tol 0 means equal",
    "kinds": KINDS,
}


def update_reference(results: dict[str, Any], reference: dict[str, Any], section: str, *,
                     only: list[str] | None = None, force: bool = False,
                     notebook_dir: Path | None = None) -> tuple[dict[str, Any], list[str], list[str]]:
    """Return (new reference, diff lines, problems) after recording ``results`` into ``section``."""
    new = json.loads(json.dumps(reference))
    for key, value in REFERENCE_ABOUT.items():
        new.setdefault(key, value)
    new["kinds"] = KINDS
    new.setdefault(section, {})
    diff: list[str] = []
    problems: list[str] = []
    for stem in sorted(results):
        if only and not any(p in stem for p in only):
            continue
        entry = results[stem]
        if entry.get("status") != "ok":
            problems.append(f"{stem}: execution {entry.get('status')}, not recorded ({entry.get('error', '')})")
            continue
        params = entry.get("parameters") or {}
        canonical = {} if section == "full" else smoke_parameters_of(stem, notebook_dir)
        if canonical is None:
            problems.append(f"{stem}: notebooks/{stem}.ipynb does not exist, not recorded")
            continue
        if params != canonical and not force:
            problems.append(f"{stem}: executed with parameters {params}, but the '{section}' reference is for "
                            f"{canonical}; re-run (or pass --force), not recorded")
            continue
        old_values = new[section].get(stem, {}).get("values", {})
        values: dict[str, Any] = {}
        for name, value in entry.get("values", {}).items():
            if name in old_values:
                kept = dict(old_values[name])
                if deviation(kept["value"], value) != 0:
                    diff.append(f"  ~ {stem}: {name}: {format_value(kept['value'], 40)} -> {format_value(value, 40)}")
                kept["value"] = value
                values[name] = kept
            else:
                values[name] = default_entry(stem, name, value)
                e = values[name]
                diff.append(f"  + {stem}: {name} = {format_value(value, 40)}  [{e['kind']}, tol {e['tol']:g}]")
        for name in old_values:
            if name not in values:
                diff.append(f"  - {stem}: {name} (was {format_value(old_values[name]['value'], 40)})")
        new[section][stem] = {"parameters": params, "values": values}
    return new, diff, problems


# --------------------------------------------------------------------------- pages for the site


def _read_notebook(path: Path):
    """The notebook at ``path``; an unreadable one is an error naming the file."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:  # missing, unreadable, or not notebook JSON (NotJSONError)
        raise ValueError(f"{path}: cannot read the notebook ({type(exc).__name__}: {exc})") from exc


def chapter_title(notebook_path: Path) -> str:
    """The first ``# heading`` of a notebook, or its stem when it has none."""
    nb = _read_notebook(notebook_path)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook_path.stem


def _slugify(title: str) -> str:
    """The anchor myst-parser gives a heading (its own function, so links and anchors agree)."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    text = re.sub(r"\{[a-z:]+\}`([^`]*)`", r"\1", title)  # roles: keep their text
    text = re.sub(r"[`*]", "", text).strip()
    return default_slugify(text)


_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*$")


def section_of_glue(notebook_path: Path, key: str) -> tuple[str, str] | None:
    """(heading text, anchor) of the section whose code glues ``key``, or ``None``."""
    nb = _read_notebook(notebook_path)
    pattern = re.compile(r"glue\(\s*['\"]" + re.escape(key) + r"['\"]")
    heading = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = _HEADING.match(line)
                if m and len(m.group(1)) >= 2:
                    heading = m.group(2)
        elif pattern.search(cell.source) and heading:
            return heading, _slugify(heading)
    return None


def _md_value(value: Any, width: int = 40) -> str:
    return format_value(value, width).replace("|", "\\|") if value is not None else "–"


def page_value(value: Any, width: int = 16) -> str:
    """A value as the execution report shows it in a table: 6 significant digits, at most ``width`` characters.

    Examples
    --------
    >>> page_value(2.302585092994046), page_value([0.8284494571518921, 0.7772067172204813, 0.8685009042281747])
    ('2.30259', '[0.8284, 0.7772…')
    >>> page_value(None), page_value("late"), page_value(45)
    ('–', 'late', '45')
    """
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]"
    else:
        text = str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("|", "\\|")


def _short_tol(check: Check) -> str:
    if check.tol is None:
        return "–"
    if check.tol == 0:
        return "exact"
    return f"{check.tol:.0e}".replace("e-0", "e-") if check.kind in ("closed-form", "float32", "numerical") \
        else f"±{check.tol:.3g}"


def _chapter_verdict(entry: dict[str, Any] | None, mine: list[Check], lang: str = "en") -> tuple[bool, str, str]:
    """(failed, status cell, values cell) of a chapter's row in the summary table."""
    if _zh(lang):
        return _chapter_verdict_zh(entry, mine)
    if entry is None:
        return True, "✗ not run", "–"
    bad = [c for c in mine if c.failed]
    ok = sum(c.status == "ok" for c in mine)
    timings = sum(c.status == "timing" for c in mine)
    values = f"{ok} ✓" + (f", {len(bad)} ✗" if bad else "") + (f", {timings} times" if timings else "")
    if entry.get("status") != "ok":
        return True, f"✗ **{entry.get('status')}**", values
    if any(c.status == "NO REFERENCE" for c in mine):
        return True, "✗ **no reference**", "–"
    if bad:
        return True, f"✗ **{len(bad)} differ**", values
    return False, "✓ ok", values


def _parameters_text(entry: dict[str, Any], section: str, lang: str = "en") -> str:
    params = entry.get("parameters") or {}
    if _zh(lang):
        listed = "、".join(f"`{k}={v!r}`" for k, v in params.items())
        return ("冒烟运行参数 " if section == "smoke" else "参数 ") + listed if params else "默认参数"
    if not params:
        return "default parameters"
    listed = ", ".join(f"`{k}={v!r}`" for k, v in params.items())
    return ("smoke parameters " if section == "smoke" else "parameters ") + listed


def _failure_item(c: Check, lang: str = "en") -> str:
    """One failing value as a list item (items wrap, so no detail is cut off at the column's edge)."""
    if _zh(lang):
        return _failure_item_zh(c)
    what = "the notebook" if c.name == "(notebook)" else f"`{c.name}`"
    text = f"- ✗ **{c.status}** {what}"
    if c.expected is not None or c.got is not None:
        text += f": expected {_md_value(c.expected)}, got {_md_value(c.got)}"
        if c.tol is not None:
            text += f", tolerance {format_tol(c)} ({c.tol_source or c.kind})"
    return text + (f". {c.detail}" if c.detail else "")


def report_markdown(results: dict[str, Any], reference: dict[str, Any], notebook_dir: Path,
                    link_prefix: str = "../notebooks/", lang: str = "en") -> str:
    """The execution report page (MyST markdown).

    Failures come first, in the summary table and in the sections below it, and
    every table is narrow enough for the book's column (about 700 px): the status
    comes first in each row, a failing value is a list item that wraps, and the
    values that match are folded (a dropdown admonition).

    ``lang="zh"``: the Chinese edition's page, the same content with Chinese headings, sentences and
    column names (value names, numbers, notebook names and the values themselves stay as they are).
    """
    zh = _zh(lang)
    checks = compare(results, reference, expect_all=False, notebook_dir=notebook_dir)
    stems = [p.stem for p in sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(float(results.get(s, {}).get("duration_s", 0)) for s in stems)
    titles = {stem: chapter_title(notebook_dir / f"{stem}.ipynb") for stem in stems}
    rows = []
    for stem in stems:
        entry = results.get(stem)
        mine = [c for c in checks if c.stem == stem]
        failed, status, values = _chapter_verdict(entry, mine, lang)
        rows.append((failed, stem, status, values, entry))
    rows.sort(key=lambda r: not r[0])  # failures first, otherwise in book order
    n_failed = sum(r[0] for r in rows)
    if zh:
        return _report_markdown_zh(results, reference, checks, stems, titles, rows, n_failed, now, total,
                                   link_prefix)
    lines = [
        "# Execution report",
        "",
        f"Generated when this site was built ({now}). Every chapter was executed once by papermill "
        "(`python -m medkit run`), and every value it glued was compared with the stored reference "
        "`reproducibility/expected.json`, as `python -m medkit repro` does. A value passes when "
        "$|\\text{got} - \\text{expected}| \\le \\text{tol} \\cdot \\max(1, |\\text{expected}|)$: "
        "1e-9 for closed-form worked examples and stated tolerances for float32 values. The metrics of trained "
        "models are *calibrated*: their tolerance is derived from their spread over re-runs under other CPU "
        "kernels and seeds (`python -m medkit repro --calibrate`), and a choice such as the chosen fusion may "
        "be any outcome those runs produced; see [Calibration](#calibration) below.",
        "",
    ]
    failed_values = [c for c in checks if c.failed]
    if n_failed:
        lines += [":::{admonition} Not everything reproduced", ":class: error",
                  f"{n_failed} of {len(stems)} chapter(s) failed or differ from the reference "
                  f"({len(failed_values)} value(s) or notebook(s) marked ✗); they are listed first.", ":::", ""]
    else:
        lines += [":::{admonition} Every value reproduced", ":class: tip",
                  f"All {sum(c.status == 'ok' for c in checks)} glued values of the {len(stems)} chapters match "
                  "the reference.", ":::", ""]
    lines += _summary_table(rows, titles, link_prefix, zh=False)
    lines += ["", f"*Values*: ✓ match, ✗ differ or missing, *times* (–): wall-clock times, shown but never "
                  "compared. "
                  "In the tables below, *Got (ref.)* shows the reference in parentheses where it prints differently. "
                  f"Sum of the notebooks' durations: {total:.1f} s (with `-j 2` two run at a time, so the wall "
                  "time is shorter).", ""]
    lines += _chapter_sections(rows, checks, titles, reference, stems, zh=False)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the report in Chinese

_STATUS_ZH = {"DRIFT": "偏离", "MISSING": "缺失", "NEW": "新值", "FAILED": "失败", "NO REFERENCE": "无参考值",
              "NOT RUN": "未运行"}
_RUN_STATUS_ZH = {"failed": "执行失败", "timeout": "超时", "error": "出错"}
_DETAILS_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^not compared: it belongs to (.*) \(checked there\)$", re.S), r"未比较：它取决于 \1（在那里检查）"),
    (re.compile(r"^not compared$"), "未比较"),
    (re.compile(r"^dev (\S+)$"), r"偏差 \1"),
    (re.compile(r"^differs$"), "不相同"),
    (re.compile(r"^changed by (\S+) from the calibration mean (\S+), more than its tolerance (\S+)$"),
     r"与校准均值 \2 相差 \1，超出容差 \3"),
    (re.compile(r"^(.*) is none of the outcomes seen in calibration: (.*)$", re.S), r"\1 不是校准中出现过的结果：\2"),
    (re.compile(r"^not glued by this run$"), "本次运行没有粘贴这个值"),
    (re.compile(r"^not in the reference: run (`[^`]*`)$"), r"不在参考值中：请运行 \1"),
    (re.compile(r"^in the reference but not in the results$"), "在参考值中，但不在结果中"),
    (re.compile(r"^executed with parameters (.*), which have no reference$", re.S),
     r"以参数 \1 执行，这组参数没有参考值"),
    (re.compile(r"^no '(\w+)' reference for this notebook: run (`[^`]*`)$"),
     r"这个 notebook 没有 “\1” 参考值：请运行 \2"),
]


def _detail_zh(detail: str) -> str:
    """A check's detail in Chinese (an error message of a notebook stays as it is).

    Examples
    --------
    >>> _detail_zh("dev 3.1e-10"), _detail_zh("not glued by this run")
    ('偏差 3.1e-10', '本次运行没有粘贴这个值')
    >>> _detail_zh("not compared: it belongs to best_fusion = 'sum' (reference 'late') (checked there)")
    "未比较：它取决于 best_fusion = 'sum'（参考值 'late'）（在那里检查）"
    """
    for pattern, zh in _DETAILS_ZH:
        if pattern.match(detail):
            text = pattern.sub(zh, detail)
            return re.sub(r" \(reference ([^()]*)\)", r"（参考值 \1）", text)
    return detail


def _tol_source_zh(text: str) -> str:
    m = re.match(r"^any outcome of (\d+) calibration runs$", text)
    if m:
        return f"{m.group(1)} 次校准运行中的任一结果"
    m = re.match(r"^measured: (\d+) calibration runs$", text)
    if m:
        return f"实测：{m.group(1)} 次校准运行"
    m = re.match(r"^stated for (.+)$", text)
    return f"按 `{m.group(1)}` 类值声明" if m else text


def _chapter_verdict_zh(entry: dict[str, Any] | None, mine: list[Check]) -> tuple[bool, str, str]:
    if entry is None:
        return True, "✗ 未运行", "–"
    bad = [c for c in mine if c.failed]
    ok = sum(c.status == "ok" for c in mine)
    timings = sum(c.status == "timing" for c in mine)
    values = f"{ok} ✓" + (f"，{len(bad)} ✗" if bad else "") + (f"，{timings} 个计时" if timings else "")
    if entry.get("status") != "ok":
        status = str(entry.get("status"))
        return True, f"✗ **{_RUN_STATUS_ZH.get(status, status)}**", values
    if any(c.status == "NO REFERENCE" for c in mine):
        return True, "✗ **无参考值**", "–"
    if bad:
        return True, f"✗ **{len(bad)} 个不同**", values
    return False, "✓ 通过", values


def _failure_item_zh(c: Check) -> str:
    what = "该 notebook" if c.name == "(notebook)" else f"`{c.name}`"
    text = f"- ✗ **{_STATUS_ZH.get(c.status, c.status)}** {what}"
    if c.expected is not None or c.got is not None:
        text += f"：期望 {_md_value(c.expected)}，得到 {_md_value(c.got)}"
        if c.tol is not None:
            tol = "精确" if c.tol == 0 else f"{c.tol:.3g}"
            text += f"，容差 {tol}（{_tol_source_zh(c.tol_source) if c.tol_source else f'`{c.kind}`'}）"
    return text + (f"。{_detail_zh(c.detail)}" if c.detail else "")


def _short_tol_zh(check: Check) -> str:
    text = _short_tol(check)
    return "精确" if text == "exact" else text


def _variant_zh(variant: str) -> str:
    """A calibration kernel variant in Chinese: ``oneDNN on, 2 threads`` -> ``oneDNN 开启/2 线程``."""
    m = re.fullmatch(r"oneDNN (on|off), (\d+) threads?", variant)
    return f"oneDNN {'开启' if m.group(1) == 'on' else '关闭'}/{m.group(2)} 线程" if m else variant


def _rule_zh(rule: str) -> str:
    """The calibration's tolerance rule (``medkit.book.calibration.RULE``) in Chinese; another rule as it is."""
    m = re.fullmatch(r"mean of the runs ± max\(q·sd·√\(1\+1/n\), ([\d.e-]+)\), q = Student-t quantile at "
                     r"1 − ([\d.e-]+)/\(2m\) for m calibrated numbers", rule)
    if not m:
        return rule
    return (f"运行均值 ± max(q·sd·√(1+1/n), {m.group(1)})，其中 q 是 Student-t 分布在 1 − {m.group(2)}/(2m) "
            "处的分位数，m 是经过校准的数值个数")


def _report_markdown_zh(results: dict[str, Any], reference: dict[str, Any], checks: list[Check], stems: list[str],
                        titles: dict[str, str], rows: list[tuple], n_failed: int, now: str, total: float,
                        link_prefix: str) -> str:
    """The body of :func:`report_markdown` in Chinese (same content, same order)."""
    lines = [
        "# 执行报告",
        "",
        f"本页在构建网站时生成（{now}）。每一章都由 papermill 执行了一次（`python -m medkit run`），它粘贴的"
        "每个值都与保存的参考值 `reproducibility/expected.json` 做了比较，做法与 `python -m medkit repro` 相同。"
        "当 $|\\text{got} - \\text{expected}| \\le \\text{tol} \\cdot \\max(1, |\\text{expected}|)$ 时，"
        "一个值通过检查：闭式计算示例的容差为 1e-9，float32 值使用各自声明的容差。训练所得模型的指标经过*校准*："
        "它们的容差由它们在其他 CPU 内核和随机种子下重新运行时的离散程度得出（`python -m medkit repro "
        "--calibrate`），而像所选的融合方式这样的选择，可以是这些运行中出现过的任何一种结果；见下文的"
        "[校准](#calibration)。",
        "",
    ]
    failed_values = [c for c in checks if c.failed]
    if n_failed:
        lines += [":::{admonition} 并非每个值都得到了复现", ":class: error",
                  f"{len(stems)} 章中有 {n_failed} 章执行失败或与参考值不同（{len(failed_values)} 个值或 notebook "
                  "标记为 ✗）；它们列在最前面。", ":::", ""]
    else:
        lines += [":::{admonition} 每个值都得到了复现", ":class: tip",
                  f"{len(stems)} 章的全部 {sum(c.status == 'ok' for c in checks)} 个粘贴值都与参考值一致。",
                  ":::", ""]
    lines += _summary_table(rows, titles, link_prefix, zh=True)
    lines += ["", "*值*：✓ 一致，✗ 不同或缺失；*计时*（–）：挂钟时间，只显示，从不比较。下面各表中，"
                  "*得到（参考）* 一栏在参考值显示得不同时，把它写在括号里。"
                  f"各 notebook 耗时之和：{total:.1f} s（用 `-j 2` 时两个 notebook 同时运行，所以实际耗时更短）。", ""]
    lines += _chapter_sections(rows, checks, titles, reference, stems, zh=True)
    return "\n".join(lines) + "\n"


#: The report page's words for its tables and chapter sections, per edition.
_REPORT_WORDS = {
    False: {"summary": "| Status | Chapter | Values | Time |", "values": "| Value | Got (ref.) | Tol. |",
            "time": "time", "calibration": "## Calibration",
            "calibration_text": "How much each trained value moves from run to run, measured, and the tolerance "
                                "derived from it. The *smallest change flagged* is how far a value must move from "
                                "the mean of the runs before the check reports it: half of the time at the first "
                                "figure, 80% of the time at the second.",
            "no_calibration": "*No notebook of this build has a calibrated reference.*"},
    True: {"summary": "| 状态 | 章 | 值 | 耗时 |", "values": "| 值 | 得到（参考） | 容差 |", "time": "计时",
           "calibration": "## 校准",
           "calibration_text": "每个训练所得的值在不同运行之间变化多少（实测），以及由此得出的容差。*能检出的最小变化*"
                               "是一个值必须偏离各次运行的均值多远，检查才会报告它：第一个数字对应一半的情况，第二个"
                               "对应 80% 的情况。",
           "no_calibration": "*本次构建中没有任何 notebook 具有经过校准的参考值。*"},
}


def _summary_table(rows: list[tuple], titles: dict[str, str], link_prefix: str, zh: bool) -> list[str]:
    """The report's table of chapters: status, link, values, time (failures first)."""
    lines = [_REPORT_WORDS[zh]["summary"], "|---|---|---|---:|"]
    for _failed, stem, status, values, entry in rows:
        link = f"[{titles[stem]}]({link_prefix}{stem}.ipynb)"
        time_text = f"{float(entry.get('duration_s', 0)):.1f} s" if entry else "–"
        lines.append(f"| {status} | {link} | {values} | {time_text} |")
    return lines


def _chapter_sections(rows: list[tuple], checks: list[Check], titles: dict[str, str], reference: dict[str, Any],
                      stems: list[str], zh: bool) -> list[str]:
    """The report's section per chapter (failures listed, the values that match folded) and its calibration."""
    words = _REPORT_WORDS[zh]
    lines: list[str] = []
    for _failed, stem, _status, _values, entry in rows:
        mine = [c for c in checks if c.stem == stem]
        if not mine:
            continue
        section = mine[0].section
        bad = [c for c in mine if c.failed]
        shown = [c for c in mine if not c.failed and c.name != "(notebook)"]
        if zh:
            intro = (f"`notebooks/{stem}.ipynb`，以{_parameters_text(entry or {}, section, 'zh')}执行，与 "
                     f"`{section or '–'}` 参考值比较："
                     + (f"**✗ {len(mine)} 项检查中有 {len(bad)} 项未通过**。" if bad else
                        f"✓ 全部 {len(shown)} 个值一致。"))
            folded = f"一致的 {len(shown)} 个值" if not bad else f"其余 {len(shown)} 个值"
        else:
            intro = (f"`notebooks/{stem}.ipynb`, executed with {_parameters_text(entry or {}, section)}, compared "
                     f"with the `{section or '–'}` reference: "
                     + (f"**✗ {len(bad)} of {len(mine)} checks failed**." if bad else
                        f"✓ all {len(shown)} values match."))
            folded = f"The {len(shown)} values that match" if not bad else f"The other {len(shown)} values"
        lines += [f"## {titles[stem]}", "", intro, ""]
        if bad:
            lines += [_failure_item(c, "zh" if zh else "en") for c in bad] + [""]
        if shown:
            # The folded table is ~600 px wide inside the admonition: the status mark opens the first cell
            # (a column of its own pushed the longest names, 36-38 characters, past the edge).
            lines += [":::{admonition} " + folded, ":class: dropdown", "", words["values"], "|---|---|---|"]
            for c in shown:
                got, expected = page_value(c.got), page_value(c.expected)
                if c.status == "timing":
                    lines.append(f"| – `{c.name}` | {got} | {words['time']} |")
                else:
                    cell = got if got == expected else f"{got} ({expected})"
                    lines.append(f"| ✓ `{c.name}` | {cell} | {_short_tol_zh(c) if zh else _short_tol(c)} |")
            notes = [c for c in shown if c.detail and c.status == "ok"]
            if notes:
                lines += [""] + [f"- `{c.name}`：{_detail_zh(c.detail)}" if zh else f"- `{c.name}`: {c.detail}"
                                 for c in notes]
            lines += [":::", ""]
    sections = {c.stem: c.section for c in checks if c.section}
    calibrated = []
    for section in SECTIONS:
        calibrated += calibration_markdown(reference, section, [s for s in stems if sections.get(s) == section],
                                           lang="zh" if zh else "en")
    lines += ["(calibration)=", words["calibration"], "", words["calibration_text"], ""]
    lines += calibrated or [words["no_calibration"], ""]
    return lines


@dataclass(frozen=True)
class Erratum:
    """A worked example of the source article that a chapter recomputes."""

    stem: str
    example: str  # what is computed, in words (MyST inline markup allowed)
    article_section: str
    printed: str | None  # glue key of the value the article prints (a quotation), if glued
    correct: str  # glue key of the recomputed value
    section: str | None = None  # heading of the chapter section that explains it (default: found from the glue call)
    printed_same: bool = False  # the chapter states the article prints exactly the recomputed value
    quote: str | None = None  # the article's sentence or formula line, in Chinese (MyST inline markup)
    quote_en: str | None = None  # its English translation


def _erratum_quote(e: Erratum) -> str:
    """The row's description followed by the article's words (marked as Chinese) and their translation."""
    if not e.quote:
        return e.example
    english = f" (“{e.quote_en}”)" if e.quote_en else ""
    return f'{e.example}<br>Article: <span lang="zh">「{e.quote}」</span>{english}'


#: Every worked example of the article the kit recomputes, from ``book/errata.json`` (see
#: :mod:`medkit.book.errata`). Rows whose notebook or keys do not exist (yet) are left out of the page;
#: erratum boxes found in the chapters but not listed here are added at the end of the table.
ERRATA: list[Erratum] = [Erratum(**row) for row in _errata_rows_from_file()]

_ADMONITION = re.compile(r":::+\{admonition\}\s*(Erratum[^\n]*)\n(.*?)\n:::+", re.S)
_GLUE_REF = re.compile(r"\{glue(?::text|:any)?\}`([A-Za-z_][\w]*)(?::[^`]*)?`")


def _decimals(value: Any) -> int | None:
    if isinstance(value, float):
        text = repr(value)
        return len(text.split(".")[1]) if "." in text and "e" not in text else None
    return 0 if isinstance(value, int) else None


def agrees_as_printed(printed: Any, correct: Any) -> bool:
    """Whether ``correct`` rounds to what the article printed (to the printed number of decimals)."""
    if isinstance(printed, (list, tuple)) and isinstance(correct, (list, tuple)):
        return len(printed) == len(correct) and all(
            agrees_as_printed(p, c) for p, c in zip(printed, correct, strict=True))
    if _is_number(printed) and _is_number(correct):
        decimals = _decimals(printed)
        # strictly closer than half a unit of the last printed decimal: a value exactly half-way
        # (1.85 printed as 1.9) could round either way, and the article presents such results as exact
        half_unit = 0.5 * 10.0 ** -(decimals if decimals is not None else 6)
        return abs(float(printed) - float(correct)) < half_unit * (1 - 1e-6)
    return printed == correct


def _errata_value(value: Any, printed: Any = None) -> str:
    """A recomputed value at a readable precision: the printed value's decimals plus two, at least four."""
    if isinstance(value, float):
        decimals = max(4, (_decimals(printed) or 0) + 2) if _is_number(printed) else 4
        return f"{value:.{decimals}f}".rstrip("0").rstrip(".") if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        same_shape = isinstance(printed, (list, tuple)) and len(printed) == len(value)
        inner = [_errata_value(v, p) for v, p in zip(value, printed if same_shape else [None] * len(value),
                                                     strict=True)]
        return "[" + ", ".join(inner) + "]"
    return _md_value(value)


def _printed_value(value: Any) -> str:
    """A quoted value as the article prints it (no trailing ``.0``)."""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)[:-2] if repr(value).endswith(".0") else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_printed_value(v) for v in value) + "]"
    return _md_value(value)


def _chapter_label(title: str, lang: str = "en") -> str:
    m = re.match(r"(\d+)\.\s*(.*)", title)
    if not m:
        return title
    return f"第 {m.group(1)} 章" if _zh(lang) else f"Ch. {m.group(1)}"


def _zh(lang: str) -> bool:
    return lang.lower().startswith("zh")


def heading_translations(english: Path, translated: Path) -> dict[str, str]:
    """``{English heading: its translation}`` for the headings of two editions of one notebook.

    Headings are paired cell by cell (same cell id) and in order inside a cell, where both cells have
    headings of the same levels; a cell whose translation is pending keeps its English heading.
    """
    pairs: dict[str, str] = {}
    if not (english.exists() and translated.exists()):
        return pairs
    other = {c.get("id"): c for c in _read_notebook(translated).cells if c.cell_type == "markdown"}
    for cell in _read_notebook(english).cells:
        if cell.cell_type != "markdown" or cell.get("id") not in other:
            continue
        en = [m for line in cell.source.splitlines() if (m := _HEADING.match(line))]
        zh = [m for line in other[cell.get("id")].source.splitlines() if (m := _HEADING.match(line))]
        if [m.group(1) for m in en] == [m.group(1) for m in zh]:
            pairs.update({a.group(2): b.group(2) for a, b in zip(en, zh, strict=True)})
    return pairs


_VERDICTS = {  # (English, Chinese)
    "none": ("recomputed (the article prints no value)", "重新计算（原文没有给出数值）"),
    "right": ("✓ right", "✓ 正确"),
    "wrong": ("✗ **wrong**", "✗ **错误**"),
    "box": ("see the chapter's erratum box", "见该章的勘误框"),
}


def errata_rows(results: dict[str, Any], notebook_dir: Path, link_prefix: str = "../notebooks/",
                lang: str = "en", english_dir: Path | None = None,
                translations: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Markdown table rows for the errata page, from the executed notebooks and their glued values.

    With ``lang="zh"`` (the Chinese edition): ``notebook_dir`` holds the translated notebooks (chapter
    titles and headings in Chinese), ``english_dir`` the English ones (the anchors of the links, the
    erratum boxes), ``translations`` the Chinese of each row's description
    (:func:`medkit.book.errata.load_translations`); the article's quote is shown without its English.
    """
    from medkit.book.errata import translated_example

    zh = _zh(lang)
    english_dir = english_dir or notebook_dir
    translations = translations or {}
    rows: list[str] = []
    covered: set[tuple[str, str]] = set()
    headings: dict[str, dict[str, str]] = {}

    def shown(stem: str, heading: str) -> str:
        if not zh:
            return heading
        if stem not in headings:
            headings[stem] = heading_translations(english_dir / f"{stem}.ipynb", notebook_dir / f"{stem}.ipynb")
        return headings[stem].get(heading, heading)

    for e in ERRATA:
        nb = notebook_dir / f"{e.stem}.ipynb"
        values = results.get(e.stem, {}).get("values", {})
        if not nb.exists() or e.correct not in values:
            continue
        printed = values.get(e.printed) if e.printed else (values[e.correct] if e.printed_same else None)
        correct = values[e.correct]
        covered.update({(e.stem, e.correct), (e.stem, e.printed or e.correct)})
        en_nb = english_dir / f"{e.stem}.ipynb"
        where = (e.section, _slugify(e.section)) if e.section else \
            section_of_glue(en_nb if en_nb.exists() else nb, e.correct)
        label = _chapter_label(chapter_title(nb), lang)
        link = (f"[{label}{'：' if zh else ': '}{shown(e.stem, where[0])}]({link_prefix}{e.stem}.ipynb#{where[1]})"
                if where else f"[{chapter_title(nb)}]({link_prefix}{e.stem}.ipynb)")
        if printed is None:
            verdict = _VERDICTS["none"][zh]
        else:
            verdict = _VERDICTS["right" if agrees_as_printed(printed, correct) else "wrong"][zh]
        if zh:
            example = translated_example({"stem": e.stem, "correct": e.correct, "example": e.example},
                                         translations)[1]
            what = f'{example}<br>原文：<span lang="zh">「{e.quote}」</span>' if e.quote else example
        else:
            what = _erratum_quote(e)
        rows.append(f"| {what} | {e.article_section} | {_printed_value(printed)} | "
                    f"{_errata_value(correct, printed)} | {verdict} | {link} |")
    # erratum boxes in the chapters that the list above does not cover yet
    for nb in sorted(english_dir.glob("[0-9][0-9]_*.ipynb")):
        cells = _read_notebook(nb).cells
        heading = None
        for cell in cells:
            if cell.cell_type != "markdown":
                continue
            for line in cell.source.splitlines():
                m = _HEADING.match(line)
                if m and len(m.group(1)) >= 2 and not _ADMONITION.search(line):
                    heading = m.group(2)
            for m in _ADMONITION.finditer(cell.source):
                keys = _GLUE_REF.findall(m.group(2))
                if not keys or any((nb.stem, k) in covered for k in keys):
                    continue
                values = results.get(nb.stem, {}).get("values", {})
                printed_keys = [k for k in keys if "printed" in k]
                other = [k for k in keys if "printed" not in k]
                printed = values.get(printed_keys[0]) if printed_keys else None
                correct = values.get(other[0]) if other else None
                shown_nb = notebook_dir / nb.name if (notebook_dir / nb.name).exists() else nb
                title = chapter_title(shown_nb)
                link = (f"[{_chapter_label(title, lang)}{'：' if zh else ': '}{shown(nb.stem, heading)}]"
                        f"({link_prefix}{nb.stem}.ipynb#{_slugify(heading)})"
                        if heading else f"[{title}]({link_prefix}{nb.stem}.ipynb)")
                number = re.search(r"section\s+([\d.]+)", m.group(1))
                section = number.group(1) if number else "–"
                what = re.sub(r"^Erratum\s*[—-]?\s*(source article,?\s*)?(section\s+[\d.]+)?\s*", "", m.group(1))
                what = what.strip(" ()") or heading or "see the chapter"
                what = what[:1].upper() + what[1:]
                if zh:
                    box = {"stem": nb.stem, "correct": other[0] if other else keys[0], "example": what}
                    what = translated_example(box, translations)[1]
                verdict = (_VERDICTS["wrong"][zh] if printed is not None and correct is not None
                           and not agrees_as_printed(printed, correct) else _VERDICTS["box"][zh])
                rows.append(f"| {what} | {section} | {_printed_value(printed)} | "
                            f"{_errata_value(correct, printed)} | {verdict} | {link} |")
                covered.update((nb.stem, k) for k in keys)
    return rows


ERRATA_MARKER = "<!-- errata-table -->"


def errata_table(results: dict[str, Any], notebook_dir: Path, lang: str = "en", english_dir: Path | None = None,
                 translations: dict[str, dict[str, str]] | None = None) -> str:
    rows = errata_rows(results, notebook_dir, lang=lang, english_dir=english_dir, translations=translations)
    if _zh(lang):
        if not rows:
            return "*本次构建没有执行任何重新计算计算示例的章节。*\n"
        return "\n".join(["| 计算示例 | 原文章节 | 原文的值 | 重新计算的值 | 判定 | 解释见 |",
                          "|---|---|---|---|---|---|", *rows]) + "\n"
    if not rows:
        return "*No chapter that recomputes a worked example has been executed for this build.*\n"
    return "\n".join(["| Worked example | Article § | Printed | Recomputed | Verdict | Explained in |",
                      "|---|---|---|---|---|---|", *rows]) + "\n"


_COVERAGE_ROWS_ZH = {"book pages": "书中页面", "_toc.yml part captions": "_toc.yml 的部分标题",
                     "glued text values": "粘贴的文本值", "errata table rows": "勘误表的行"}


def translation_coverage_markdown(repo: Path = REPO_ROOT, i18n_dir: Path | None = None, lang: str = "en",
                                  executed_dir: Path | None = None) -> str:
    """The report page's section on the Chinese edition: translated units per chapter and for the pages.

    Counts come from :func:`medkit.book.i18n.status` (markdown cells and figure captions per chapter, whole
    pages, the part captions, the glued text values of the reference, the errata table's rows);
    ``python -m medkit i18n status`` lists the stale and missing ones. The figures of ``executed_dir``
    drawn in Chinese are counted in a sentence below the table. ``lang="zh"``: in Chinese.
    """
    from medkit.book import i18n

    zh = _zh(lang)
    title = "## 翻译覆盖率（中文版）" if zh else "## Translation coverage (中文版)"
    try:
        report = i18n.status(repo, i18n_dir or i18n.I18N_DIR, executed_dir=executed_dir)
    except i18n.CatalogError as err:
        return (f"\n{title}\n\n无法读取翻译目录：`{err}`\n" if zh else
                f"\n{title}\n\nThe catalogs cannot be read: `{err}`\n")
    if zh:
        lines = ["", title, "",
                 f"中文版（`zh/`）：可翻译单元中有 {100 * report.coverage:.1f} % 已经翻译并且是最新的；过时或缺失的"
                 "单元会在“待翻译 · translation pending”标记下显示英文原文。`python -m medkit i18n status` "
                 "会列出它们。", "", "| 章或页面 | 已翻译 | 总数 |", "|:--|--:|--:|"]
    else:
        lines = ["", title, "",
                 f"The Chinese edition (`zh/`): {100 * report.coverage:.1f} % of the translatable units are "
                 "translated and current; a stale or missing one shows its English under a "
                 "\"待翻译 · translation pending\" marker. `python -m medkit i18n status` lists them.", "",
                 "| chapter or pages | translated | total |", "|:--|--:|--:|"]
    for name, done, total in i18n.coverage_rows(report):
        lines.append(f"| {_COVERAGE_ROWS_ZH.get(name, name) if zh else name} | {done} | {total} |")
    if report.figures:
        drawn = sum(f.drawn for f in report.figures)
        partly = sum(bool(f.untranslated) for f in report.figures)
        lines += ["", f"图：{len(report.figures)} 幅中有 {drawn} 幅以中文绘制" + (
            f"，其中 {partly} 幅仍有未翻译的文字" if partly else "") + "。" if zh else
            f"Figures: {drawn} of {len(report.figures)} are drawn in Chinese" + (
                f", {partly} of them with strings left untranslated" if partly else "") + "."]
    return "\n".join(lines) + "\n"


def write_report_page(staging: Path, results: dict[str, Any], i18n_dir: Path | None = None, lang: str = "en",
                      english_dir: Path | None = None) -> Path:
    """Write the generated pages into the staged book (``medkit.book.site`` calls this).

    - ``book/execution_report.md``: every notebook, its duration, status and values against the reference;
    - ``book/errata.md``: the marker line ``<!-- errata-table -->`` is replaced by the table of every
      recomputed worked example, printed value against correct value (numbers from ``results``).

    ``lang="zh"``: the Chinese edition's staging (translated notebooks in ``staging/notebooks``, the
    English ones in ``english_dir``; the rows' descriptions from ``i18n_dir/errata.json``); both pages
    are then in Chinese. Only the staging copy is written, never the repository's ``book/``.
    """
    from medkit.book import i18n
    from medkit.book.errata import load_translations

    notebook_dir = staging / "notebooks"
    reference = load_reference()
    page = staging / "book" / "execution_report.md"
    executed = staging.parent / "executed"
    coverage = translation_coverage_markdown(i18n_dir=i18n_dir, lang=lang,
                                             executed_dir=executed if executed.is_dir() else None)
    page.write_text(report_markdown(results, reference, notebook_dir, lang=lang) + coverage)
    errata = staging / "book" / "errata.md"
    if errata.exists():
        text = errata.read_text()
        if ERRATA_MARKER in text:
            translations = load_translations((i18n_dir or i18n.I18N_DIR) / "errata.json") if _zh(lang) else None
            table = errata_table(results, notebook_dir, lang=lang, english_dir=english_dir,
                                 translations=translations)
            errata.write_text(text.replace(ERRATA_MARKER, table))
    return page


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", action="store_true", help="execute the notebooks first (with the runner)")
    parser.add_argument("--smoke", action="store_true",
                        help="with --run: smoke parameters, into _build/smoke; with --update: the smoke section")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the reference from the results and print the diff; exits 1 when some "
                             "values could not be recorded (each is printed as 'not recorded'), else 0")
    parser.add_argument("--force", action="store_true",
                        help="with --update: record runs whose parameters are not the section's")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="only notebooks whose name contains PATTERN (repeatable)")
    parser.add_argument("--kinds", metavar="KIND[,KIND]",
                        help=f"check only these kinds of values ({', '.join(KINDS)})")
    parser.add_argument("--results", type=Path, default=None,
                        help="results.json to check (default _build/results.json, or _build/smoke/... with --smoke)")
    parser.add_argument("--reference", type=Path, default=REFERENCE_PATH, help="the reference file")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the rows that fail, and the summary")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="with --run: notebooks executed in parallel")
    parser.add_argument("--calibrate", action="store_true",
                        help="re-execute the notebooks with trained values under kernel variants and seed bases, "
                             "and derive their tolerances from the measured spread (with --smoke: the smoke "
                             "section); writes the reference")
    parser.add_argument("--add", action="store_true",
                        help="with --calibrate: add this machine's runs to the stored ones (calibrated on another "
                             "machine) instead of replacing them, so the spread covers both machines' kernels")
    parser.add_argument("--seed-bases", type=int, default=2, metavar="N",
                        help="with --calibrate: seed bases per kernel variant (default 2)")
    parser.add_argument("--notebook-dir", type=Path, default=None, help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from medkit.book.runner import BUILD_DIR, NOTEBOOK_DIR, discover_notebooks, run, select_notebooks

    notebook_dir = args.notebook_dir or NOTEBOOK_DIR
    if args.calibrate:
        from medkit.book.calibration import VARIANTS, calibrate

        section = "smoke" if args.smoke else "full"
        reference = load_reference(args.reference)
        stems = [nb.stem for nb in select_notebooks(discover_notebooks(notebook_dir), args.only)
                 if nb.stem in reference.get(section, {})]
        print(f"calibrating the '{section}' reference of {', '.join(stems)}: {len(VARIANTS)} kernel variants x "
              f"{args.seed_bases} seed base(s) per notebook", flush=True)
        calibrated = calibrate(reference, section, stems, seed_bases=args.seed_bases, notebook_dir=notebook_dir,
                               log=lambda line: print(line, flush=True), add=args.add)
        # Calibration takes long: merge into the file as it is now, so that edits made meanwhile survive.
        new = load_reference(args.reference)
        for stem in stems:
            new[section][stem] = calibrated[section][stem]
        write_reference(new, args.reference)
        for stem in stems:
            cal = new[section][stem].get("calibration")
            if cal:
                print(f"{stem}: {len(cal['runs'])} runs; "
                      f"leave-one-out false alarms {cal['leave_one_out_false_alarms']}")
        print(f"wrote {args.reference}")
        return 0
    build_dir = BUILD_DIR / "smoke" if args.smoke else BUILD_DIR
    results_path = args.results or build_dir / "results.json"
    if args.run:
        build_dir = results_path.parent
        notebooks = select_notebooks(discover_notebooks(notebook_dir), args.only)
        run(notebooks, build_dir=build_dir, smoke=args.smoke, jobs=args.jobs)
    results = load_results(results_path)
    reference = load_reference(args.reference)

    if args.update:
        section = "smoke" if args.smoke else "full"
        new, diff, problems = update_reference(results, reference, section, only=args.only, force=args.force,
                                               notebook_dir=notebook_dir)
        for p in problems:
            print(f"not recorded: {p}", file=sys.stderr)
        if diff:
            print(f"{args.reference} [{section}] changes:")
            print("\n".join(diff))
        else:
            print(f"{args.reference} [{section}]: no change in values")
        write_reference(new, args.reference)
        return 1 if problems else 0

    kinds = {k.strip() for k in args.kinds.split(",")} if args.kinds else None
    if kinds and (unknown := kinds - set(KINDS)):
        print(f"--kinds: unknown kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    checks = compare(results, reference, only=args.only, kinds=kinds, expect_all=not kinds,
                     notebook_dir=notebook_dir)
    print(f"reproducibility check: {results_path} against {args.reference}")
    shown = [c for c in checks if c.failed] if args.quiet else checks
    if shown:
        print(format_table(shown))
    print(summary(checks))
    failed = [c for c in checks if c.failed]
    if failed:
        print(f"FAILED: {len(failed)} value(s) did not reproduce. If a change is intended, record it with "
              f"`python -m medkit repro --update{' --smoke' if args.smoke else ''}` and commit "
              "reproducibility/expected.json.", file=sys.stderr)
        return 1
    return 0
