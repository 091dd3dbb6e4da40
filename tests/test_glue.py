"""medkit.glue writes what myst_nb.glue writes (the book reads it), with numpy made plain."""
from __future__ import annotations

import ast

import IPython.display
import numpy as np
import pytest

from medkit.glue import GLUE_PREFIX, glue

myst_glue_module = pytest.importorskip("myst_nb.ext.glue")


def capture(monkeypatch, target, attribute):
    calls = []
    monkeypatch.setattr(target, attribute, lambda data, raw, metadata: calls.append((data, metadata)))
    return calls


@pytest.mark.parametrize("value", [2.302585092994046, 3, "concat", [1.0, 1.5], {"a": 1}])
@pytest.mark.parametrize("display", [True, False])
def test_same_output_as_myst_nb(monkeypatch, value, display):
    ours = capture(monkeypatch, IPython.display, "display")
    glue("key", value, display=display)
    theirs = capture(monkeypatch, myst_glue_module, "ipy_display")
    myst_glue_module.glue("key", value, display=display)
    assert ours == theirs


def test_numpy_values_are_stored_as_plain_literals(monkeypatch):
    calls = capture(monkeypatch, IPython.display, "display")
    glue("auc", np.float64(0.75), display=False)
    glue("theta", np.array([0.9, 1.85]), display=False)
    glue("shape", (np.int64(5), np.int64(9)), display=False)
    stored = [ast.literal_eval(data[GLUE_PREFIX + "text/plain"]) for data, _ in calls]
    assert stored == [0.75, [0.9, 1.85], [5, 9]]
    assert all(meta["scrapbook"]["mime_prefix"] == GLUE_PREFIX for _, meta in calls)


# ---------------------------------------------------------------- re-run in JupyterLab: never silently different
@pytest.fixture
def reader_copy(tmp_path, monkeypatch):
    """A reader copy whose text shows auc as 0.877 and n as 80, opened in a JupyterLab kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["medkit"] = {"reader": {"origin": "reference run, seed 0",
                                        "shown": {"auc": {".3f": "0.877"}, "n": {"": "80"}}}}
    path = tmp_path / "06_x.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    return path


def test_a_rerun_that_differs_from_the_text_says_so(monkeypatch, capsys, reader_copy):
    calls = capture(monkeypatch, IPython.display, "display")
    glue("auc", np.float64(0.8772), display=False)  # shown as 0.877: agrees with the text
    glue("n", 80, display=False)
    glue("not_in_text", 3.0, display=False)
    assert capsys.readouterr().out == ""
    glue("auc", 0.881, display=False)
    glue("n", 40, display=False)
    assert capsys.readouterr().out.splitlines() == [
        "note: the text says auc = 0.877 (reference run, seed 0); this run gives 0.881.",
        "note: the text says n = 80 (reference run, seed 0); this run gives 40."]
    assert len(calls) == 5 and all(meta["scrapbook"]["mime_prefix"] == GLUE_PREFIX for _, meta in calls)


def test_no_note_outside_jupyterlab(monkeypatch, capsys, reader_copy):
    monkeypatch.delenv("JPY_SESSION_NAME")  # papermill, the book build and the grader set no session
    calls = capture(monkeypatch, IPython.display, "display")
    glue("auc", 0.5, display=False)
    assert capsys.readouterr().out == "" and len(calls) == 1


def test_a_glued_figure_is_shown_in_jupyterlab(monkeypatch, reader_copy):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(InteractiveShell.instance(), {"png"})  # what %matplotlib inline does in a kernel
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    calls = capture(monkeypatch, IPython.display, "display")
    glue("fig_roc", fig, display=False)
    plt.close(fig)
    assert [sorted(data) for data, _ in calls] == [[GLUE_PREFIX + "image/png", GLUE_PREFIX + "text/plain"],
                                                   ["image/png", "text/plain"]]
