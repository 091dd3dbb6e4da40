"""The reproducibility check: comparison rules, the table, --update, the committed reference, the smoke run."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from medkit.book import repro
from medkit.book.runner import discover_notebooks, smoke_parameters


def cli(*args):
    return subprocess.run([sys.executable, "-m", "medkit", "repro", *args], capture_output=True, text=True)


def reference_with(values, stem="01_demo", section="full", parameters=None):
    return {"full": {}, "smoke": {}, section: {stem: {"parameters": parameters or {}, "values": values}}}


def entry(value, tol=1e-9, kind="closed-form"):
    return {"value": value, "tol": tol, "kind": kind}


# --------------------------------------------------------------------------- comparison rules


@pytest.mark.parametrize("expected, got, tol, ok", [
    (2.302585092994046, 2.302585092994046, 1e-9, True),
    (2.302585092994046, 2.302585102994046, 1e-9, False),   # 1e-8 off: drift
    (1000.0, 1000.0 + 5e-7, 1e-9, True),                    # relative above 1
    (1e-12, 2e-12, 1e-9, True),                             # absolute below 1
    (0.81, 0.83, 0.05, True),                               # a trained metric within its stated tolerance
    (0.81, 0.90, 0.05, False),
    ([1.0, 1.5], [1.0, 1.5], 1e-9, True),
    ([1.0, 1.5], [1.0, 1.6], 1e-9, False),
    ([1.0, 1.5], [1.0], 1e-9, False),                       # length differs
    ([[1, 2], [3, 4]], [[1, 2], [3, 4]], 0, True),
    ("concat", "concat", 0, True),
    ("concat", "gated", 0, False),
    ("inf", "inf", 0, True),
    (math.inf, math.inf, 1e-9, True),
    (math.inf, -math.inf, 1e-9, False),
    (math.nan, math.nan, 1e-9, True),
    (4, 4, 1e-9, True),
    (4, 4.0, 1e-9, True),                                   # numbers compare as numbers
    (True, True, 0, True),
    (True, 1, 0, False),                                    # a boolean is not a number
    ({"a": 1.0}, {"a": 1.0}, 1e-9, True),
    ({"a": 1.0}, {"b": 1.0}, 1e-9, False),
])
def test_matches(expected, got, tol, ok):
    assert repro.matches(expected, got, tol) is ok


def test_default_entries_follow_the_rules():
    assert repro.default_entry("01_x", "ce_value", 0.5) == entry(0.5)
    assert repro.default_entry("01_x", "ce_article_keras", 0.5)["kind"] == "float32"
    assert repro.default_entry("06_multimodal_model", "test_auroc_fused", 0.8) == entry(0.8, 0.05, "trained")
    assert repro.default_entry("06_multimodal_model", "best_fusion", "gated") == entry("gated", 0.0, "exact")
    assert repro.default_entry("03_fusion", "fusion_concat", [1, 2, 3])["kind"] == "closed-form"


def test_wall_clock_times_are_recorded_but_never_compared():
    assert repro.default_entry("06_multimodal_model", "mm_train_seconds", 41.3)["kind"] == "timing"
    assert repro.default_entry("06_multimodal_model", "mm_n_train", 240) == entry(240)  # counts are exact
    reference = reference_with({"t_seconds": entry(41.3, 0.0, "timing"), "a": entry(1.0)})
    results = {"01_demo": {"status": "ok", "parameters": {}, "values": {"t_seconds": 97.0, "a": 1.0}}}
    checks = repro.compare(results, reference)
    assert statuses(checks) == {("t_seconds", "timing"), ("a", "ok")}
    assert not any(c.failed for c in checks)
    assert repro.summary(checks) == "1 of 1 value(s) reproduced in 1 notebook(s) (1 wall-clock time(s) not compared)"


def statuses(checks):
    return {(c.name, c.status) for c in checks}


def test_compare_reports_every_kind_of_problem():
    reference = reference_with({"a": entry(1.0), "b": entry(2.0), "c": entry(3.0)})
    results = {"01_demo": {"status": "ok", "parameters": {}, "values": {"a": 1.0, "b": 2.5, "d": 4.0}}}
    checks = repro.compare(results, reference)
    assert statuses(checks) == {("a", "ok"), ("b", "DRIFT"), ("c", "MISSING"), ("d", "NEW")}
    assert [c.failed for c in checks if c.name == "a"] == [False]


def test_a_failed_notebook_and_a_notebook_not_run_fail():
    reference = reference_with({"a": entry(1.0)})
    reference["full"]["02_other"] = {"parameters": {}, "values": {"x": entry(1.0)}}
    results = {"01_demo": {"status": "failed", "parameters": {}, "values": {}, "error": "cell In [3]: boom"}}
    checks = repro.compare(results, reference)
    assert ("a", "FAILED") in statuses(checks)
    assert ("(notebook)", "NOT RUN") in statuses(checks)
    assert all(c.failed for c in checks)


def test_custom_parameters_have_no_reference():
    reference = reference_with({"a": entry(1.0)})
    results = {"01_demo": {"status": "ok", "parameters": {"epochs": 5}, "values": {"a": 1.0}}}
    [check] = repro.compare(results, reference)
    assert check.status == "NO REFERENCE" and "epochs" in check.detail


def test_the_section_follows_the_parameters():
    reference = reference_with({"a": entry(1.0)}, section="smoke", parameters={"n": 3})
    reference["full"]["01_demo"] = {"parameters": {}, "values": {"a": entry(9.0)}}
    smoke = {"01_demo": {"status": "ok", "parameters": {"n": 3}, "values": {"a": 1.0}}}
    full = {"01_demo": {"status": "ok", "parameters": {}, "values": {"a": 9.0}}}
    assert [c.section for c in repro.compare(smoke, reference)] == ["smoke"]
    assert [c.status for c in repro.compare(smoke, reference)] == ["ok"]
    assert [c.status for c in repro.compare(full, reference)] == ["ok"]


def test_kinds_restricts_the_check():
    reference = reference_with({"a": entry(1.0), "auroc": entry(0.8, 0.05, "trained")})
    results = {"01_demo": {"status": "ok", "parameters": {}, "values": {"a": 1.0, "auroc": 0.5, "new": 1}}}
    checks = repro.compare(results, reference, kinds={"closed-form"})
    assert statuses(checks) == {("a", "ok")}


def test_table_has_the_issue_columns_and_one_row_per_value():
    reference = reference_with({"a": entry(1.0), "b": entry(2.0)})
    results = {"01_demo": {"status": "ok", "parameters": {}, "values": {"a": 1.0, "b": 2.5}}}
    table = repro.format_table(repro.compare(results, reference)).splitlines()
    assert table[0].split() == ["notebook", "value", "expected", "got", "tolerance", "status"]
    assert len(table) == 2 + 2
    assert "DRIFT" in table[-1] and "2.5" in table[-1]


# --------------------------------------------------------------------------- command line and --update


@pytest.fixture
def files(tmp_path):
    results = tmp_path / "results.json"
    reference = tmp_path / "expected.json"
    results.write_text(json.dumps({"01_demo": {"status": "ok", "duration_s": 1.0, "parameters": {},
                                               "values": {"a": 1.0, "label": "x", "v": [1.0, 2.0]}}}))
    return results, reference


def test_cli_update_then_check_then_drift(files):
    results, reference = files
    proc = cli("--results", str(results), "--reference", str(reference))
    assert proc.returncode == 1 and "NO REFERENCE" in proc.stdout

    proc = cli("--update", "--results", str(results), "--reference", str(reference))
    assert proc.returncode == 0, proc.stderr
    assert "+ 01_demo: a = 1.0" in proc.stdout and "+ 01_demo: label = x" in proc.stdout
    stored = json.loads(reference.read_text())
    assert stored["full"]["01_demo"]["values"]["label"] == entry("x", 0.0, "exact")

    proc = cli("--results", str(results), "--reference", str(reference))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 of 3 value(s) reproduced in 1 notebook(s)" in proc.stdout

    # a hand-set tolerance survives --update, and the diff names the change
    stored["full"]["01_demo"]["values"]["a"]["tol"] = 0.1
    reference.write_text(json.dumps(stored))
    data = json.loads(results.read_text())
    data["01_demo"]["values"]["a"] = 1.05
    results.write_text(json.dumps(data))
    assert cli("--results", str(results), "--reference", str(reference)).returncode == 0  # within 0.1
    data["01_demo"]["values"]["a"] = 1.5
    results.write_text(json.dumps(data))
    proc = cli("--results", str(results), "--reference", str(reference))
    assert proc.returncode == 1 and "DRIFT" in proc.stdout and "--update" in proc.stderr
    proc = cli("--update", "--results", str(results), "--reference", str(reference))
    assert "~ 01_demo: a: 1.0 -> 1.5" in proc.stdout
    assert json.loads(reference.read_text())["full"]["01_demo"]["values"]["a"] == entry(1.5, 0.1)


def test_update_refuses_runs_with_other_parameters(files):
    results, reference = files
    data = json.loads(results.read_text())
    data["01_demo"]["parameters"] = {"epochs": 5}
    results.write_text(json.dumps(data))
    proc = cli("--update", "--results", str(results), "--reference", str(reference))
    assert proc.returncode == 1 and "epochs" in proc.stderr
    assert "01_demo" not in json.loads(reference.read_text())["full"]


def test_missing_results_file_is_a_clear_error(tmp_path):
    proc = cli("--results", str(tmp_path / "nope.json"))
    assert proc.returncode != 0 and "python -m medkit run" in proc.stderr


# --------------------------------------------------------------------------- the committed reference


def test_the_committed_reference_is_well_formed():
    reference = json.loads(repro.REFERENCE_PATH.read_text())
    assert set(repro.SECTIONS) <= set(reference)
    for section in repro.SECTIONS:
        for stem, nb in reference[section].items():
            assert {"parameters", "values"} <= set(nb) <= {"parameters", "values", "calibration"}, (section, stem)
            for name, e in nb["values"].items():
                assert {"value", "tol", "kind"} <= set(e), (section, stem, name)
                assert e["kind"] in repro.KINDS, (section, stem, name, e["kind"])
                assert e["tol"] >= 0
                if "calibration" in e:  # measured, never typed: the tolerance follows from the runs
                    assert e["kind"] == "trained", (section, stem, name)
                    cal = e["calibration"]
                    assert ("allowed" in cal) != ("center" in cal), (section, stem, name)
                    if "center" in cal:
                        assert cal["center"] == pytest.approx(float(np.mean(cal["runs"])))
                        assert cal["n"] == len(cal["runs"]) >= 3
                if e["kind"] == "closed-form":
                    assert e["tol"] <= 1e-9, f"{stem}:{name} is closed-form: its tolerance must be 1e-9 or tighter"
    assert reference["full"]["01_cross_entropy"]["values"]["ce_article_example"] == {
        "value": pytest.approx(2.302585092994046, abs=1e-12), "tol": 1e-9, "kind": "closed-form"}


@pytest.mark.parametrize("notebook", discover_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_has_a_reference(notebook):
    reference = repro.load_reference()
    hint = ("record it with `python -m medkit repro --run --update` and `python -m medkit repro --smoke --run "
            "--update`, check the diff, and commit reproducibility/expected.json")
    assert notebook.stem in reference["full"], f"{notebook.stem} has no full reference: {hint}"
    smoke = reference["smoke"].get(notebook.stem) or reference["full"][notebook.stem]
    assert smoke["parameters"] == smoke_parameters(notebook), (
        f"{notebook.stem}: the smoke reference was recorded with parameters {smoke['parameters']}, the notebook "
        f"now declares {smoke_parameters(notebook)}: {hint}")


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
def test_closed_form_values_of_the_smoke_run_reproduce(smoke_run):
    """`make test`'s reproducibility check: the closed-form (and exact) values, from the shared smoke run."""
    assert smoke_run.results, smoke_run.proc.stdout + smoke_run.proc.stderr
    proc = cli("--results", str(smoke_run.results_path), "--kinds", "closed-form,exact")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ce_article_example" in proc.stdout


# --------------------------------------------------------------------------- the generated pages


def make_notebook(path, title, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}")] + [
        nbformat.v4.new_markdown_cell(c) if kind == "md" else nbformat.v4.new_code_cell(c) for kind, c in cells]
    nbformat.write(nb, path)


def test_report_page_and_errata_table_are_written_into_the_staging_copy_only(tmp_path, monkeypatch):
    staging = tmp_path / "site_src"
    (staging / "notebooks").mkdir(parents=True)
    (staging / "book").mkdir()
    (staging / "book" / "errata.md").write_text("# Errata\n\n<!-- errata-table -->\n\nAfter.\n")
    make_notebook(staging / "notebooks" / "01_cross_entropy.ipynb", "1. Cross-entropy loss", [
        ("md", "## The source article's worked example"),
        ("code", "glue('ce_article_printed', 0.105)\nglue('ce_article_example', x)"),
    ])
    make_notebook(staging / "notebooks" / "04_metrics.ipynb", "4. Metrics", [
        ("md", "## Accuracy\n\n:::{admonition} Erratum — source article, section 4.4\n:class: warning\n"
               "It prints {glue:text}`m_acc_printed` but the value is {glue:text}`m_acc:.2f`.\n:::"),
    ])
    results = {
        "01_cross_entropy": {"status": "ok", "duration_s": 3.5, "parameters": {},
                             "values": {"ce_article_printed": 0.105, "ce_article_example": 2.302585092994046}},
        "04_metrics": {"status": "ok", "duration_s": 1.0, "parameters": {},
                       "values": {"m_acc_printed": 0.75, "m_acc": 0.5}},
    }
    monkeypatch.setattr(repro, "REFERENCE_PATH", tmp_path / "none.json")
    monkeypatch.setattr(repro, "load_reference", lambda path=None: {
        "full": {"01_cross_entropy": {"parameters": {}, "values": {
            "ce_article_printed": entry(0.105), "ce_article_example": entry(2.302585092994046)}}}, "smoke": {}})
    page = repro.write_report_page(staging, results)

    report = page.read_text()
    assert page == staging / "book" / "execution_report.md"
    assert "[1. Cross-entropy loss](../notebooks/01_cross_entropy.ipynb)" in report
    assert "3.5 s" in report and "2 ✓" in report
    assert "no reference" in report  # 04_metrics has none in this reference
    errata = (staging / "book" / "errata.md").read_text()
    assert "<!-- errata-table -->" not in errata and errata.endswith("After.\n")
    assert "| 0.105 | 2.30259 | ✗ **wrong** |" in errata
    assert "(../notebooks/01_cross_entropy.ipynb#the-source-articles-worked-example)" in errata
    assert "| Accuracy | 4.4 | 0.75 | 0.5 | ✗ **wrong** |" in errata  # found from the erratum box alone
    assert "(../notebooks/04_metrics.ipynb#accuracy)" in errata


def test_printed_values_agree_to_their_printed_precision():
    assert repro.agrees_as_printed(0.33, 1 / 3)
    assert not repro.agrees_as_printed(0.105, 2.302585)
    assert repro.agrees_as_printed([1, 2, 3], [1.0, 2.0, 3.0])
    assert not repro.agrees_as_printed(0.385, 0.3976)
    assert not repro.agrees_as_printed([0.9, 1.9], [0.9, 1.85])  # half-way: not a safe rounding
    assert repro.agrees_as_printed([0.9, 1.9], [0.9, 1.86])


# --------------------------------------------------------------------------- the execution report's layout


def _report_tables(page):
    """Each markdown table of ``page`` as a list of rows, each a list of visible cell texts."""
    import re

    def visible(cell):
        cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
        return cell.replace("**", "").replace("`", "").replace("\\|", "|").strip()

    tables, current = [], []
    for line in page.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append([visible(c) for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def _report_of(tmp_path, results, reference):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for stem in ("01_alpha", "02_beta", "03_gamma"):
        make_notebook(nb_dir / f"{stem}.ipynb", f"{stem[1]}. Chapter {stem[3:]}", [("code", "x = 1")])
    return repro.report_markdown(results, reference, nb_dir)


def test_the_report_lists_failures_first_with_the_status_in_the_first_column(tmp_path):
    long = "metrics_prop_raretest_sens_wilson_high"  # the longest glue name of the book: 38 characters
    reference = {"full": {
        "01_alpha": {"parameters": {}, "values": {"a": entry(1.0), long: entry([0.1234567, 0.2345678, 0.3456789])}},
        "02_beta": {"parameters": {}, "values": {"b": entry(2.302585092994046), "c": entry(0.5)}},
        "03_gamma": {"parameters": {}, "values": {"d": entry(3.0)}}}, "smoke": {}}
    results = {
        "01_alpha": {"status": "ok", "duration_s": 1.0, "parameters": {},
                     "values": {"a": 1.0, long: [0.1234567, 0.2345678, 0.3456789]}},
        "02_beta": {"status": "ok", "duration_s": 2.0, "parameters": {}, "values": {"b": 2.302585092994046,
                                                                                   "c": 0.75}},
        "03_gamma": {"status": "failed", "duration_s": 3.0, "parameters": {},
                     "error": "cell In [4] (cell index 3): ValueError: deliberate", "values": {}},
    }
    page = _report_of(tmp_path, results, reference)
    summary = _report_tables(page)[0]
    assert summary[0] == ["Status", "Chapter", "Values", "Time"]
    # the two failures first (in book order), then the chapter that reproduced
    assert [row[1] for row in summary[1:]] == ["2. Chapter beta", "3. Chapter gamma", "1. Chapter alpha"]
    assert summary[1][0] == "✗ 1 differ" and summary[2][0] == "✗ failed" and summary[3][0] == "✓ ok"
    assert summary[1][2] == "1 ✓, 1 ✗"
    # the chapter sections follow the same order, and a failing value is a list item with its numbers
    assert page.index("## 2. Chapter beta") < page.index("## 3. Chapter gamma") < page.index("## 1. Chapter alpha")
    assert "- ✗ **DRIFT** `c`: expected 0.5, got 0.75, tolerance 1e-09" in page
    assert "- ✗ **FAILED** `d`" in page and "ValueError: deliberate" in page
    assert "Not everything reproduced" in page
    for table in _report_tables(page):
        assert table[0][0] in ("Status", "Value"), table[0]
        # narrow enough for the book's ~700 px column: at most 70 visible characters per row
        widest = max(sum(len(c) for c in row) for row in table[1:])
        assert widest <= 70, (table[0], widest)
    values = _report_tables(page)[-1]
    assert values[0] == ["Value", "Got (ref.)", "Tol."]
    assert ["✓ " + long, "[0.1235, 0.2346…", "1e-9"] in values  # the status opens the row


def test_a_report_where_everything_reproduced_says_so(tmp_path):
    reference = {"full": {stem: {"parameters": {}, "values": {"v": entry(1.0)}}
                          for stem in ("01_alpha", "02_beta", "03_gamma")}, "smoke": {}}
    results = {stem: {"status": "ok", "duration_s": 1.0, "parameters": {}, "values": {"v": 1.0}}
               for stem in ("01_alpha", "02_beta", "03_gamma")}
    page = _report_of(tmp_path, results, reference)
    assert "Every value reproduced" in page and "✗ **" not in page and "Not everything" not in page
    assert all(row[0] == "✓ ok" for row in _report_tables(page)[0][1:])
    assert [row[1] for row in _report_tables(page)[0][1:]] == ["1. Chapter alpha", "2. Chapter beta",
                                                               "3. Chapter gamma"]


def test_an_unreadable_notebook_is_an_error_naming_it(tmp_path):
    path = tmp_path / "01_broken.ipynb"
    path.write_text("{ not json")
    with pytest.raises(ValueError, match=f"{path}: cannot read the notebook"):
        repro.chapter_title(path)


def test_a_corrupt_results_file_is_an_error_naming_it(tmp_path):
    results = tmp_path / "results.json"
    results.write_text('{"01_demo": ')
    proc = cli("--results", str(results))
    assert proc.returncode != 0 and f"{results}: not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
