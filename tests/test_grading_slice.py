"""Grading leaves out the cells no graded exercise depends on, and only where that provably changes nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from medkit.classroom import grade as grading
from medkit.classroom.slicing import cells_to_skip, names_bound, names_read

REPO = Path(__file__).resolve().parents[1]
NBPERCENT = REPO / "tools" / "nbpercent.py"

CHAPTER = '''# %% [markdown]
# # 0. Slice fixture

# %% tags=["parameters"]
seed = 0

# %%
import math

# %%
import json
shown = json.dumps({"pi": math.pi})
print(shown)

# %%
def grow(values):
    values.append(3)
    return values

data = [1, 2]

# %%
bigger = grow(data)

# %% [markdown]
# :::{exercise}
# :label: sl-ex1
# How many items does `data` hold? Put it in `answer`.
# :::

# %% medkit={"exercise": "sl-ex1"} tags=["solution"]
answer = len(data)  # SOLUTION

# %% medkit={"exercise": "sl-ex1", "points": 1} tags=["hidden-test", "remove-cell"]
from medkit.classroom.hidden import expect
expect(answer)
'''


@pytest.mark.parametrize(("source", "bound"), [
    ("import keras\nv = keras.ops.sum([1.0])\nprint(v)", {"keras", "v"}),
    ("glue_all({'a': float(a)})", set()),              # only records: binds nothing, changes nothing
    ("rng = np.random.default_rng(0)", None),          # a generator others may draw from
    ("x = rng.normal()", None),                         # advances a shared generator
    ("results['auc'] = 0.5", None),                     # item assignment mutates a shared dict
    ("model.trainable = False", None),                  # attribute assignment
    ("for i in range(3):\n    total = i", None),        # not a simple statement
    ("%time x = 1", None),                              # a magic could do anything
    ("def f():\n    global y\n    y = 1", None),
    ("plt.plot([1, 2])", None),                         # binds nothing and is not output-only
])
def test_which_cells_are_candidates(source, bound):
    assert names_bound(source) == bound


def test_a_dynamic_lookup_keeps_every_earlier_cell():
    cells = ["import keras", "x = 1", "print(eval('keras'))"]
    assert names_read(cells[2]) is None
    assert cells_to_skip(cells, keep={2}) == set()
    assert cells_to_skip(cells[:2] + ["print(x)"], keep={2}) == {0}


def test_a_cell_rebinding_a_needed_name_is_kept():
    cells = ["x = 1", "x = 2", "answer = x"]
    assert cells_to_skip(cells, keep={2}) == set()


def _chapter(tmp_path: Path, text: str) -> grading.Source:
    source_dir = tmp_path / "notebooks"
    source_dir.mkdir(parents=True)
    script = tmp_path / "chapter.py"
    script.write_text(text)
    subprocess.run([sys.executable, str(NBPERCENT), "to-nb", str(script), str(source_dir / "00_slice.ipynb")],
                   check=True)
    return grading.load_sources(source_dir)["00_slice"]


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_the_slice_is_used_only_where_the_expected_values_stay_the_same(tmp_path):
    # `bigger = grow(data)` looks skippable, but it changes `data` behind the names: the sliced
    # run of the instructor notebook gives 2 instead of 3, so this chapter is graded in full.
    risky = grading.compute_references(_chapter(tmp_path / "a", CHAPTER), cell_timeout=30)
    assert risky[("sl-ex1", 0)] == [3]
    assert not risky.skip_unneeded and risky.skipped == 0
    # Without that cell, the json cell is skipped and the values are the same: the slice is used.
    safe_text = CHAPTER.replace("bigger = grow(data)", "bigger = grow(list(data))")
    safe = grading.compute_references(_chapter(tmp_path / "b", safe_text), cell_timeout=30)
    assert safe[("sl-ex1", 0)] == [2]
    assert safe.skip_unneeded and safe.skipped == 3  # `import math` (unused), the json cell, `bigger`
