"""tools/mutate.py: the mutants it lists are the ones it applies, one change each; messages are left alone."""
from __future__ import annotations

import ast
import difflib
import importlib.util
import sys

from conftest import REPO_ROOT

SOURCE = '''"""A module docstring with 1 < 2 in it."""
LIMIT = 0.5


def f(x, y=1):
    """Docstring: x + y."""
    if x < 0 and y:
        raise ValueError(f"x must be >= 0; got {x - 1}")
    return -(x * y) + max(x, 2)
'''


def load_mutate():
    spec = importlib.util.spec_from_file_location("medkit_mutate", REPO_ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_each_listed_mutant_changes_exactly_what_it_says(tmp_path):
    mutate = load_mutate()
    path = tmp_path / "m.py"
    path.write_text(SOURCE)
    mutants = mutate.list_mutants(path, "m.py")
    assert [(m.line, m.function, m.mutation) for m in mutants] == [
        (2, "<module>", "0.5 -> 1.5"),
        (5, "f", "1 -> 0"),
        (7, "f", "0 -> 1"), (7, "f", "< -> <="), (7, "f", "< -> >"), (7, "f", "and -> or"),
        (9, "f", "* -> /"), (9, "f", "-(x * y) -> (x * y)"), (9, "f", "max -> min"), (9, "f", "2 -> 3"),
        (9, "f", "+ -> -"), (9, "f", "return x -> return None"),
    ]  # nothing from the docstrings or the error message
    base = ast.unparse(ast.parse(SOURCE)).splitlines()
    for m in mutants:
        new = mutate.mutated_source(SOURCE, m.index).splitlines()
        changed = [line for line in difflib.unified_diff(base, new, lineterm="", n=0)
                   if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert len(changed) == 2, (m, changed)  # one line out, one line in
        assert "ValueError" not in changed[0] and "Docstring" not in changed[0]
    assert "x < 0 or y" in mutate.mutated_source(SOURCE, 5)
    assert "return\n" in mutate.mutated_source(SOURCE, 11)
