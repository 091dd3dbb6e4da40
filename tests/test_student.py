"""``medkit student``: stubs, removed hidden tests, cleared outputs, and student notebooks that still run."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from medkit import KERNEL_NAME, KERNEL_NAME_ZH
from medkit.book import cli
from medkit.classroom.markup import MarkupError, collect_exercises, exercise_of, has_marker, role_of, stub_solution
from medkit.classroom.student import student_notebook, student_version

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FIXTURE = REPO / "tests" / "fixtures" / "grading" / "source" / "00_fixture.ipynb"


# ---------------------------------------------------------------- stubs
def test_block_becomes_raise_at_its_indentation():
    src = ("def f(x, y=2):\n    \"\"\"Doc.\"\"\"\n    # BEGIN SOLUTION\n    z = x * y\n    return z\n"
           "    # END SOLUTION\n\n"
           "class A:\n    def g(self):\n        # BEGIN SOLUTION\n        return 1\n        # END SOLUTION")
    out = stub_solution(src, "t-ex1")
    assert out == ("def f(x, y=2):\n    \"\"\"Doc.\"\"\"\n    raise NotImplementedError(\"t-ex1\")\n\n"
                   "class A:\n    def g(self):\n        raise NotImplementedError(\"t-ex1\")")
    compile(out, "<stub>", "exec")


@pytest.mark.parametrize("line, stub", [
    ("answer = -math.log(1 - 0.8)  # SOLUTION", "answer = ..."),
    ("shape: tuple = (32, 896)  # SOLUTION", "shape: tuple = ..."),
    ("a = b = 3 # SOLUTION", "a = b = ..."),
    ("metrics = {'ppv': 45 / 135, 'npv': 860 / 865}  # SOLUTION", "metrics = ..."),
    ("    x = 1  # SOLUTION", "    x = ..."),
])
def test_suffix_line_becomes_ellipsis(line, stub):
    assert stub_solution(line, "t-ex1") == stub


@pytest.mark.parametrize("src, fragment", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "top level"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION", "without a '# BEGIN SOLUTION'"),
    ("def f():\n    return 1", "no '# BEGIN SOLUTION' block"),
    ("x = (1 +  # SOLUTION\n     2)", "complete statement"),
])
def test_broken_markup_is_refused(src, fragment):
    with pytest.raises(MarkupError, match=fragment.replace("(", r"\(").replace("'", "'")):
        stub_solution(src, "t-ex1", where="nb, cell 3")


def test_markup_errors_name_the_cell():
    nb = new_notebook(cells=[new_code_cell("x = 1  # SOLUTION"),
                             new_code_cell("assert x == 1", metadata={"tags": ["hidden-test"],
                                                                      "medkit": {"exercise": "t-ex1"}})])
    with pytest.raises(MarkupError, match=r"cell 0: has a solution marker but is not tagged 'solution'|cell 1"):
        student_version(nb, "t")
    nb.cells[0].metadata = {"tags": ["solution"], "medkit": {"exercise": "t-ex1"}}
    with pytest.raises(MarkupError, match=r"hidden test of t-ex1 \(cell 1\) needs .*points"):
        student_version(nb, "t")


# ---------------------------------------------------------------- the student version of the fixture chapter
def test_student_version_of_fixture():
    nb = nbformat.read(FIXTURE, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="old output")]
    nb.cells[2].execution_count = 7
    student = student_version(nb, "00_fixture")
    assert student.metadata["medkit"]["source"] == "00_fixture"
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert not any(role_of(c) == "hidden-test" for c in student.cells)
    assert not any(has_marker(c.source) for c in code)
    sols = {exercise_of(c): c.source for c in code if role_of(c) == "solution"}
    assert sols == {"fx-ex1": "answer = ...",
                    "fx-ex2": 'def binary_ce(y_true, p):\n    raise NotImplementedError("fx-ex2")'}
    checks = [c.source for c in code if role_of(c) == "self-check"]
    assert checks == ["check_ce_value(answer)", "check_binary_ce(binary_ce)"]
    assert nbformat.read(FIXTURE, as_version=4).cells[6].source.endswith("# SOLUTION")  # the input is untouched
    # what `medkit student` writes: the same cells, the MyST markup rendered for JupyterLab
    written, moved = student_notebook(nb, FIXTURE, FIXTURE.parent)
    assert moved == []
    md = "\n".join(c.source for c in written.cells if c.cell_type == "markdown")
    assert ":::" not in md and "### Exercise 1 (fx-ex1)" in md and "**Your answer to Exercise 1**" in md
    assert [c.source for c in written.cells if c.cell_type == "code"] == [c.source for c in code]


def test_cli_writes_every_chapter(tmp_path, capsys):
    if not NOTEBOOKS:
        pytest.skip("no notebooks/ yet")
    out = tmp_path / "student"
    assert cli.main(["student", str(out), *map(str, NOTEBOOKS)]) == 0
    for source_path in NOTEBOOKS:
        source = nbformat.read(source_path, as_version=4)
        student = nbformat.read(out / source_path.name, as_version=4)
        nbformat.validate(student)
        exercises = collect_exercises(source, str(source_path))
        assert len(exercises) >= 2, f"{source_path.name}: every chapter has at least two exercises"
        code = [c for c in student.cells if c.cell_type == "code"]
        assert not any(role_of(c) == "hidden-test" for c in student.cells), source_path.name
        assert all(not c.outputs and c.execution_count is None for c in code), source_path.name
        assert not any(has_marker(c.source) for c in code), source_path.name
        for c in code:
            if role_of(c) == "solution":
                assert "NotImplementedError" in c.source or "= ..." in c.source, (source_path.name, c.source)
        assert sum(role_of(c) == "self-check" for c in code) == sum(len(e.self_check_cells) for e in exercises.values())
        assert student.metadata["medkit"]["source"] == source_path.stem
        assert student.metadata["kernelspec"]["name"] == "medkit"
    assert "exercise(s)" in capsys.readouterr().out


@pytest.mark.parametrize("copy_data", [False, True])
def test_student_notebooks_find_their_data_wherever_they_are_written(tmp_path, capsys, copy_data):
    chapter = REPO / "notebooks" / "06_multimodal_model.ipynb"
    if not chapter.exists():
        pytest.skip("chapter 6 is not written yet")
    out = tmp_path / "elsewhere" / "class"
    args = ["student", str(out), str(chapter)] + (["--copy-data"] if copy_data else [])
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    student = nbformat.read(out / chapter.name, as_version=4)
    params = next(c for c in student.cells if "parameters" in c.metadata.get("tags", []))
    data_dir = dict(re.findall(r'^(\w+) = "([^"]*)"', params.source, re.MULTILINE))["data_dir"]
    assert (out / data_dir / "images.csv").is_file(), data_dir
    assert ("data_samples" == data_dir) == copy_data
    assert f"data_dir = {data_dir!r}" in printed
    assert ("--copy-data" in printed) != copy_data  # says what to copy when it did not


def test_cli_refuses_to_overwrite_sources(tmp_path, capsys):
    nb_path = tmp_path / "00_fixture.ipynb"
    nb_path.write_bytes(FIXTURE.read_bytes())
    assert cli.main(["student", str(tmp_path), str(nb_path)]) == 2
    assert "refusing" in capsys.readouterr().err


# ---------------------------------------------------------------- a student notebook runs top to bottom
@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_student_chapter_runs_top_to_bottom(tmp_path):
    from nbclient import NotebookClient

    chapter = REPO / "notebooks" / "01_cross_entropy.ipynb"
    if not chapter.exists():
        pytest.skip("chapter 1 is not written yet")
    source = nbformat.read(chapter, as_version=4)
    student = student_version(source, chapter.stem, str(chapter))
    smoke = source.metadata.get("medkit", {}).get("smoke", {})
    for i, cell in enumerate(student.cells):  # the CI sizes keep this test short, as in `medkit run --smoke`
        if "parameters" in cell.get("metadata", {}).get("tags", []) and smoke:
            student.cells.insert(i + 1, new_code_cell("\n".join(f"{k} = {v!r}" for k, v in smoke.items())))
            break
    client = NotebookClient(student, kernel_name="medkit", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if anything in the student version fails
    printed = "".join(o.get("text", "") for c in student.cells if c.cell_type == "code"
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert printed.count("not done yet") >= 2, printed[-2000:]


@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=lambda p: p.stem)
def test_chinese_student_versions_differ_only_in_their_prose(tmp_path, chapter):
    """The same code cells, ids, tags and exercise metadata as the English version: grading reads only those."""
    nb = nbformat.read(chapter, as_version=4)
    en, _ = student_notebook(nb, chapter, tmp_path)
    zh, _ = student_notebook(nb, chapter, tmp_path, lang="zh")

    def graded(version):
        return [(c.id, c.source, c.metadata.get("tags"), c.metadata.get("medkit")) for c in version.cells
                if c.cell_type == "code"]

    assert graded(zh) == graded(en)
    assert zh.metadata.get("medkit") == en.metadata.get("medkit")  # names the chapter for the grader
    # JupyterLab runs the Chinese version on medkit-zh (MEDKIT_LANG=zh): its self-checks print Chinese
    assert (zh.metadata["kernelspec"]["name"], en.metadata["kernelspec"]["name"]) == (KERNEL_NAME_ZH, KERNEL_NAME)
    prose = "\n".join(c.source for c in zh.cells if c.cell_type == "markdown")
    assert re.search(r"[\u4e00-\u9fff]{20}", prose) and "待翻译" not in prose
    with pytest.raises(ValueError, match="unknown language"):
        student_notebook(nb, chapter, tmp_path, lang="fr")


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_a_chinese_submission_is_graded_like_an_english_one(tmp_path, monkeypatch):
    """A Chinese version names the medkit-zh kernel, but the grader runs every submission on its own (medkit)
    kernel and grades values, not printed text: here even with every self-check printing Chinese."""
    from medkit.classroom import grade as grading

    chapter = REPO / "notebooks" / "01_cross_entropy.ipynb"
    source = nbformat.read(chapter, as_version=4)
    solutions = {exercise_of(c): c.source for c in source.cells if role_of(c) == "solution"}
    subs = tmp_path / "subs"
    subs.mkdir()
    for student, lang, solved in (("li", "zh", True), ("lee", "en", True), ("wang", "zh", False)):
        nb, _ = student_notebook(source, chapter, subs, lang=lang)
        for cell in nb.cells:
            if solved and role_of(cell) == "solution" and exercise_of(cell) in solutions:
                cell.source = solutions[exercise_of(cell)]
        nbformat.write(nb, subs / f"{student}_01_cross_entropy.ipynb")
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME_ZH
    monkeypatch.setenv("MEDKIT_LANG", "zh")  # the kernels inherit it: the self-checks print Chinese
    results = grading.grade([subs], REPO / "notebooks", tmp_path / "grades.csv", smoke=True, sandbox=False,
                            log=lambda _: None, warn=lambda _: None)
    scores = {r.student: (r.total, r.max_total) for r in results}
    assert scores["li"] == scores["lee"] and scores["li"][0] == scores["li"][1] > 0, scores
    assert scores["wang"] == (0.0, scores["li"][1]), scores  # the untouched Chinese version: nothing done
