"""``medkit grade``: the fixture class of tests/fixtures/grading/ and its expected scores.

The fixture submissions (see make_fixtures.py there) are graded once per module
with a 3 s cell timeout, so the never-ending ones cost seconds, not minutes.
"""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from medkit import cli, grading
from medkit.exmarkup import collect_exercises

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grading"
SOURCE_DIR = FIXTURES / "source"
SUBMISSIONS = FIXTURES / "submissions"
CELL_TIMEOUT = 3.0

# student -> (fx-ex1 out of 1, fx-ex2 out of 3, a fragment of the status column)
EXPECTED = {
    "alice": (1, 3, "ok"),                                   # fully correct
    "bob": (1, 2, "ok"),                                     # partly wrong: no clipping
    "carol": (0, 3, "3 cell(s) raised"),                     # crashing cells
    "dave": (1, 0, "1 cell(s) timed out"),                   # never-ending function
    "erin": (1, 0, "fx-ex2 solution cell missing"),          # cells deleted
    "frank": (1, 3, "exercises reordered"),                  # cells reordered: still full marks
    "grace": (0, 3, "fx-ex1 solution cell is markdown"),     # cell type changed
    "heidi": (1, 0, "fx-ex2 binary_ce not defined"),         # function renamed
    "ivan": (0, 0, "not a notebook: invalid JSON"),          # corrupt JSON
    "judy": (0, 0, "not a notebook: the JSON has no list of cells"),
    "kim": (0, 0, "not a notebook: the file is not UTF-8"),  # a binary file
    "mallory": (0, 0, ""),                                   # the untouched student version, STUDENT/STEM.ipynb
    "nina": (1, 0, "stopped: the kernel died"),              # os._exit between the exercises
    "olga": (1, 0, "stopped: the kernel did not stop"),      # a loop that swallows KeyboardInterrupt
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    lines: list[str] = []
    # Two at a time: most of the slow fixtures' time is waiting for a timeout.
    results = grading.grade([SUBMISSIONS], SOURCE_DIR, out, cell_timeout=CELL_TIMEOUT, total_timeout=40, jobs=2,
                            log=lines.append)
    with out.open(newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    print("\n".join(lines))  # grading time per submission, visible with -s
    return results, rows, out, lines


# ---------------------------------------------------------------- the fixture class, graded
@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_fixture_scores(graded):
    _, rows, _, _ = graded
    assert set(rows) == set(EXPECTED)
    for student, (ex1, ex2, status) in EXPECTED.items():
        row = rows[student]
        assert (row["fx-ex1"], row["fx-ex2"]) == (str(ex1), str(ex2)), (student, row)
        assert row["total"] == str(ex1 + ex2), (student, row)
        assert row["max"] == "4"
        assert status in row["status"], (student, row["status"])


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_csv_layout_and_progress(graded):
    results, _, out, lines = graded
    with out.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["student", "fx-ex1", "fx-ex2", "total", "max", "status"]
    assert len(lines) == len(results) == len(EXPECTED)
    assert all(" s (" in line and line.startswith("[") for line in lines)  # progress with time per submission


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_timeouts_bound_the_time(graded):
    results, _, _, _ = graded
    seconds = {r.student: r.seconds for r in results}
    # dave: the self-check and two hidden tests each interrupted after CELL_TIMEOUT s, plus start-up
    assert seconds["dave"] < 3 * CELL_TIMEOUT + 15
    # olga: one timeout, one unanswered probe, then the kernel is killed
    assert seconds["olga"] < 2 * CELL_TIMEOUT + 15
    assert max(seconds[s] for s in ("ivan", "judy", "kim")) < 1.0  # no kernel for a file that is not a notebook


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_feedback_explains_without_revealing(graded):
    _, _, out, _ = graded
    feedback = {p.stem: p.read_text() for p in (out.parent / "feedback").glob("*.md")}
    assert set(feedback) == set(EXPECTED)
    assert "all hidden tests passed" in feedback["alice"]
    assert "`bce` instead (renamed?)" in feedback["heidi"]
    assert "changed into a markdown cell" in feedback["grace"]
    assert "solution cell is missing" in feedback["erin"]
    assert "endless loop" in feedback["dave"]
    assert "ZeroDivisionError" in feedback["carol"]
    assert "not done yet" in feedback["mallory"]
    assert "invalid JSON" in feedback["ivan"]
    hidden_sources = [t.source for ex in collect_exercises(nbformat.read(SOURCE_DIR / "00_fixture.ipynb", 4)).values()
                      for t in ex.hidden_tests]
    for text in feedback.values():
        assert "0.16425203348601893" not in text and "1.6094379124341003" not in text
        assert not any(src in text for src in hidden_sources)


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_one_submission_cannot_touch_another(tmp_path):
    """Each submission runs in its own kernel and its own temporary directory (no instructor notebooks)."""
    source = nbformat.read(SOURCE_DIR / "00_fixture.ipynb", as_version=4)
    from medkit.student import student_version

    student = student_version(source, "00_fixture")
    writer = nbformat.from_dict(nbformat.v4.new_notebook(cells=list(student.cells), metadata=student.metadata))
    writer.cells.append(new_code_cell("open('scratch.txt', 'w').write('x')\nimport builtins\nbuiltins.LEAK = 1"))
    reader = nbformat.from_dict(nbformat.v4.new_notebook(cells=list(student.cells), metadata=student.metadata))
    reader.cells.append(new_code_cell("import os, builtins\nassert not os.path.exists('scratch.txt')\n"
                                      "assert not hasattr(builtins, 'LEAK')\n"
                                      "assert not any(f.endswith('.ipynb') for f in os.listdir('.'))"))
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(writer, subs / "a_00_fixture.ipynb")
    nbformat.write(reader, subs / "b_00_fixture.ipynb")
    results = grading.grade([subs], SOURCE_DIR, tmp_path / "g.csv", cell_timeout=20, log=lambda _: None)
    notes_b = [n for n in results[1].notes if "assert" in n or "raised" in n and "check_" not in n]
    assert results[1].student == "b" and not notes_b, results[1].notes
    assert not (Path.cwd() / "scratch.txt").exists() and not (SOURCE_DIR / "scratch.txt").exists()


# ---------------------------------------------------------------- no kernel needed
def test_identify_rule():
    sources = {"01_cross_entropy": None, "cross_entropy": None}
    assert grading.identify(Path("x/alice_01_cross_entropy.ipynb"), None, sources) == ("alice", "01_cross_entropy")
    assert grading.identify(Path("x/alice/01_cross_entropy.ipynb"), None, sources) == ("alice", "01_cross_entropy")
    assert grading.identify(Path("x/a_b_cross_entropy.ipynb"), None, sources) == ("a_b", "cross_entropy")
    # the metadata written by `medkit student` wins over a renamed file
    assert grading.identify(Path("x/alice_final.ipynb"), "01_cross_entropy", sources) == ("alice_final",
                                                                                            "01_cross_entropy")
    assert grading.identify(Path("x/alice.ipynb"), None, sources) == ("alice", None)


def test_unknown_chapter_scores_nothing_but_does_not_crash(tmp_path):
    path = tmp_path / "zoe_homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    result = grading.grade_file(path, grading.load_sources(SOURCE_DIR))
    assert result.source is None and "cannot tell which chapter" in result.status


def test_hidden_tests_are_inserted_after_their_exercise():
    sources = grading.load_sources(SOURCE_DIR)
    nb = nbformat.read(SUBMISSIONS / "frank_00_fixture.ipynb", as_version=4)
    plan = grading._plan(nb, sources["00_fixture"], smoke=False)
    kinds = [(kind, ref[0] if kind == "test" else nb.cells[ref].metadata.get("medkit", {}).get("exercise"))
             for kind, ref, _ in plan]
    # frank moved fx-ex2 before fx-ex1: each exercise's tests follow its own cells
    first_ex2_test = kinds.index(("test", "fx-ex2"))
    assert kinds[first_ex2_test - 1] == ("student", "fx-ex2")
    assert kinds[-1] == ("test", "fx-ex1")


def test_cli_never_crashes_on_files_that_are_not_notebooks(tmp_path, capsys):
    # In-process through the dispatcher (`python -m medkit grade ...`): a subprocess would add seconds of imports.
    subs = [SUBMISSIONS / "ivan_00_fixture.ipynb", SUBMISSIONS / "kim_00_fixture.ipynb", tmp_path / "lost_00_fixture.ipynb"]
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", *map(str, subs), "--out", str(out), "--source-dir", str(SOURCE_DIR)]) == 0
    assert "[3/3]" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["student"] for r in rows] == ["ivan", "kim", "lost"]
    assert all(r["total"] == "0" for r in rows)
    assert "cannot read the file" in rows[2]["status"]
    assert (tmp_path / "feedback" / "kim.md").exists()


def test_cli_reports_setup_errors(tmp_path, capsys):
    code = cli.main(["grade", str(SUBMISSIONS), "--out", str(tmp_path / "g.csv"), "--source-dir", str(tmp_path / "no")])
    assert code == 2 and "--source-dir" in capsys.readouterr().err
    code = cli.main(["grade", str(SUBMISSIONS), "--out", str(tmp_path / "g.csv"), "--source-dir", str(SOURCE_DIR),
                     "--kernel", "no-such-kernel"])
    assert code == 2 and "no-such-kernel" in capsys.readouterr().err
