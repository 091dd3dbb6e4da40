"""The papermill runner: smoke execution of every chapter, parameters, failures, results.json."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from medkit.book import runner


def medkit_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "medkit", *args], capture_output=True, text=True, cwd=cwd)


def write_notebook(path, *sources, smoke=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "medkit", "display_name": "Python (medkit)", "language": "python"}
    if smoke:
        nb.metadata["medkit"] = {"smoke": smoke}
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        cell["id"] = f"c{i}"
        if i == 0:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
def test_every_notebook_runs_in_smoke_mode(smoke_run):
    # the smoke run is the session fixture in conftest.py, shared with the site, repro and determinism tests
    tmp_path, proc = smoke_run.build_dir, smoke_run.proc
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    stems = {nb.stem for nb in runner.discover_notebooks()}
    assert set(results) == stems
    for stem, entry in results.items():
        assert entry["status"] == "ok", (stem, entry.get("error"))
        assert entry["values"], f"{stem} glued nothing"
        assert entry["duration_s"] > 0
        assert (tmp_path / "executed" / f"{stem}.ipynb").exists()
    assert results["01_cross_entropy"]["values"]["ce_article_example"] == pytest.approx(2.302585092994046, abs=1e-12)


def test_only_with_unknown_pattern_lists_the_notebooks():
    proc = medkit_cli("run", "--only", "nosuch")
    assert proc.returncode != 0
    assert "--only 'nosuch' matches no notebook" in proc.stderr
    assert "01_cross_entropy" in proc.stderr


def test_parameters_smoke_values_and_glue_are_recorded(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    write_notebook(
        nb_dir / "01_demo.ipynb",
        "size = 100\nlabel = 'full'",
        "from myst_nb import glue\nglue('size_sq', size * size, display=False)\nglue('label', label, display=False)\n"
        "glue('items', [1.5, 2], display=False)",
        smoke={"size": 3},
    )
    proc = medkit_cli("run", "--smoke", "--notebook-dir", str(nb_dir), "--build-dir", str(tmp_path / "b"),
                      "-p", "label", "tiny")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = json.loads((tmp_path / "b" / "results.json").read_text())["01_demo"]
    assert entry["status"] == "ok"
    assert entry["values"] == {"size_sq": 9, "label": "tiny", "items": [1.5, 2]}
    assert entry["parameters"] == {"size": 3, "label": "tiny"}


def test_a_failing_cell_fails_the_run_and_is_named(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    # os.write(2, ...) writes to the kernel process's own stderr, as TensorFlow's C++ start-up lines do
    write_notebook(nb_dir / "01_ok.ipynb", "x = 1", "import os\nos.write(2, b'kernel-side stderr line\\n')\ny = x + 1")
    write_notebook(nb_dir / "02_broken.ipynb", "x = 1", "y = x + 1",
                   "def f():\n    raise ValueError('deliberate failure')\n\nz = 3\nf()\nw = 4")
    build = tmp_path / "b"
    proc = medkit_cli("run", "-j", "2", "--notebook-dir", str(nb_dir), "--build-dir", str(build))
    assert proc.returncode == 1
    assert "02_broken.ipynb" in proc.stderr
    assert "ValueError: deliberate failure" in proc.stderr
    assert "cell In [3] (cell index 2)" in proc.stderr
    # one progress line per notebook, with its status and time
    assert re.search(r"^\[\d/2\] 01_ok \.+ ok +\d+\.\d s  0 values$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\[\d/2\] 02_broken \.+ FAILED +\d+\.\d s", proc.stdout, re.M), proc.stdout
    # the failing cell, the line the traceback points at, and the log's path
    assert "->    5 | f()" in proc.stderr and "      2 | " in proc.stderr, proc.stderr
    assert f"kernel log: {build / 'logs' / '02_broken.log'}" in proc.stderr
    assert f"full traceback: {build / 'executed' / '02_broken.ipynb'}" in proc.stderr
    # the kernel's own stderr is in its log, not on the terminal
    assert "kernel-side stderr line" in (build / "logs" / "01_ok.log").read_text()
    assert "kernel-side stderr line" not in proc.stdout + proc.stderr
    assert "without encryption" not in proc.stdout + proc.stderr
    results = json.loads((build / "results.json").read_text())
    assert results["01_ok"]["status"] == "ok"
    assert results["02_broken"]["status"] == "failed"


def test_the_failure_report_shows_the_cell_around_the_failing_line():
    source = "\n".join(f"line_{i} = {i}" for i in range(1, 31))
    r = runner.NotebookResult("05_x", "failed", 2.0, error="cell In [7] (cell index 9): KeyError: 'age'",
                              log="/b/logs/05_x.log", failed_cell=source, failed_line=20,
                              raised_in="File /repo/medkit/data.py:42, in load(path)")
    text = runner.failure_report(r)
    lines = text.splitlines()
    assert lines[0] == "      05_x.ipynb: cell In [7] (cell index 9): KeyError: 'age'"
    shown = [line for line in lines if " | " in line]
    assert [line.split(" | ")[1] for line in shown] == [f"line_{i} = {i}" for i in range(16, 22)]
    assert "->   20 | line_20 = 20" in text and "(15 line(s) above)" in text and "(9 line(s) below)" in text
    assert "raised in File /repo/medkit/data.py:42, in load(path)" in text
    assert text.endswith("kernel log: /b/logs/05_x.log")
    # no line known (a timeout): the start of the cell, at most 8 lines
    r.failed_line = None
    shown = [line for line in runner.failure_report(r).splitlines() if " | " in line]
    assert len(shown) == 8 and shown[0].endswith("1 | line_1 = 1")


def test_progress_lines_line_up():
    a = runner.progress_line(3, 7, runner.NotebookResult("03_fusion", "ok", 31.84, values={"a": 1, "b": 2}))
    b = runner.progress_line(7, 7, runner.NotebookResult("06_multimodal_model", "failed", 131.0))
    assert a == "[3/7] 03_fusion ................... ok         31.8 s  2 values"
    assert b == "[7/7] 06_multimodal_model ......... FAILED    131.0 s  0 values"


def test_output_to_sends_a_child_process_output_to_the_log(tmp_path):
    log = tmp_path / "x.log"
    with runner.output_to(log):
        subprocess.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"], check=True)
    assert log.read_text().split() == ["out", "err"]


def test_parse_value_reads_literals_and_falls_back_to_strings():
    assert runner.parse_value("3") == 3
    assert runner.parse_value("['concat', 'gated']") == ["concat", "gated"]
    assert runner.parse_value("mirrored") == "mirrored"


def _result(stem, status="ok"):
    return runner.NotebookResult(stem=stem, status=status, duration_s=1.5, values={"x": 1}, parameters={})


def test_write_results_merges_with_the_entries_of_notebooks_not_run(tmp_path):
    path = tmp_path / "results.json"
    runner.write_results([_result("01_a"), _result("02_b")], path)
    runner.write_results([_result("02_b", status="failed")], path)
    data = json.loads(path.read_text())
    assert list(data) == ["01_a", "02_b"]
    assert data["01_a"]["status"] == "ok" and data["02_b"]["status"] == "failed"


@pytest.mark.parametrize("text", ["{\"01_a\": {\"status\": ", "[1, 2]", "{\"01_a\": 3}"])
def test_a_corrupt_results_file_is_an_error_naming_it_and_is_kept(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: "):
        runner.write_results([_result("01_a")], path)
    assert path.read_text() == text  # not overwritten: it holds other notebooks' entries
    # and a run stops before executing anything (the notebook does not even exist)
    with pytest.raises(ValueError, match=f"{path}: "):
        runner.run([tmp_path / "99_missing.ipynb"], build_dir=tmp_path)


def test_the_run_command_refuses_a_corrupt_results_file(tmp_path):
    (tmp_path / "results.json").write_text("not json")
    proc = medkit_cli("run", "--only", "01", "--build-dir", str(tmp_path))
    assert proc.returncode == 1
    assert f"error: {tmp_path / 'results.json'}: not valid JSON" in proc.stderr
    assert not (tmp_path / "executed").exists()
