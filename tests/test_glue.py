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
