"""``medkit grade``: the fixture class of tests/fixtures/grading/ and its expected scores.

The fixture submissions (see make_fixtures.py there) are graded once per module
with a 3 s cell timeout, so the never-ending ones cost seconds, not minutes, in
the bwrap sandbox where this machine has one (else without it, and the sandbox
tests say why they are skipped). The hostile submissions (hostile/) are graded in
the sandbox only; a few of them also without it, to prove that their attacks are real.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

import medkit
from medkit.book import cli
from medkit.classroom import grade as grading
from medkit.classroom.markup import collect_exercises
from medkit.classroom.sandbox import Sandbox, SandboxUnavailable

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grading"
SOURCE_DIR = FIXTURES / "source"
SUBMISSIONS = FIXTURES / "submissions"
HOSTILE = FIXTURES / "hostile"
CELL_TIMEOUT = 3.0
ANSWER_PORT = 45678  # where the socket submission looks for a helper (tests/fixtures/grading/make_fixtures.py)


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str:
    """Why the bwrap sandbox cannot run here ("" when it can)."""
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        Sandbox.detect(KernelSpecManager().get_kernel_spec(grading.KERNEL).argv, [])
    except SandboxUnavailable as exc:
        return str(exc)
    return ""


def needs_sandbox() -> None:
    if sandbox_problem():
        pytest.skip(f"SANDBOX TEST SKIPPED: bwrap cannot run here ({sandbox_problem()}); `make setup` installs "
                    "bubblewrap where apt-get is usable")

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
                            log=lines.append, sandbox=not sandbox_problem(), warn=lines.append)
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
        assert row["sandbox"] == ("none" if sandbox_problem() else "bwrap")


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_csv_layout_and_progress(graded):
    results, _, out, lines = graded
    with out.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["student", "fx-ex1", "fx-ex2", "total", "max", "status", "sandbox"]
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == len(results) == len(EXPECTED)
    assert all(" s (" in line for line in progress)  # progress with time per submission
    # the instructor's values are computed once per run, not once per submission
    assert sum(line.startswith("expected values of 00_fixture") for line in lines) == 1


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
    expressions = [c.expr for ex in collect_exercises(nbformat.read(SOURCE_DIR / "00_fixture.ipynb", 4)).values()
                   for t in ex.hidden_tests for c in t.checks if c.expr not in ex.names]  # not `answer`
    assert len(expressions) == 2
    for text in feedback.values():
        assert "0.16425203348601893" not in text and "1.6094379124341003" not in text
        assert not any(src in text for src in hidden_sources)
        assert not any(expr in text for expr in expressions) and "atol" not in text


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_one_submission_cannot_touch_another(tmp_path):
    """Each submission runs in its own kernel and its own temporary directory (no instructor notebooks)."""
    source = nbformat.read(SOURCE_DIR / "00_fixture.ipynb", as_version=4)
    from medkit.classroom.student import student_version

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
    results = grading.grade([subs], SOURCE_DIR, tmp_path / "g.csv", cell_timeout=20, log=lambda _: None,
                            sandbox=not sandbox_problem(), warn=lambda _: None)
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
    # a hidden-test cell is replaced by a probe holding its expressions only: no tolerance, no expected value
    probes = [cell.source for kind, _, cell in plan if kind == "test"]
    assert len(probes) == 3 and all("probe(" in p and "atol" not in p and "lambda" not in p for p in probes)
    assert "binary_ce(np.array([1.0, 0.0]), np.array([0.9, 0.2]))" in probes[0]
    # frank moved fx-ex2 before fx-ex1: each exercise's tests follow its own cells
    first_ex2_test = kinds.index(("test", "fx-ex2"))
    assert kinds[first_ex2_test - 1] == ("student", "fx-ex2")
    assert kinds[-1] == ("test", "fx-ex1")


def test_cli_never_crashes_on_files_that_are_not_notebooks(tmp_path, capsys):
    # In-process through the dispatcher (`python -m medkit grade ...`): a subprocess would add seconds of imports.
    subs = [SUBMISSIONS / "ivan_00_fixture.ipynb", SUBMISSIONS / "kim_00_fixture.ipynb",
            tmp_path / "lost_00_fixture.ipynb"]
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", *map(str, subs), "--out", str(out), "--source-dir", str(SOURCE_DIR),
                     "--no-sandbox"]) == 0
    captured = capsys.readouterr()
    assert "[3/3]" in captured.out
    assert "--no-sandbox: student code runs as YOU" in captured.err  # said once, loudly
    assert captured.err.count("runs as YOU") == 1
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["student"] for r in rows] == ["ivan", "kim", "lost"]
    assert {r["sandbox"] for r in rows} == {"none"}
    assert all(r["total"] == "0" for r in rows)
    assert "cannot read the file" in rows[2]["status"]
    assert (tmp_path / "feedback" / "kim.md").exists()


def test_cli_reports_setup_errors(tmp_path, capsys):
    code = cli.main(["grade", str(SUBMISSIONS), "--out", str(tmp_path / "g.csv"), "--source-dir", str(tmp_path / "no")])
    assert code == 2 and "--source-dir" in capsys.readouterr().err
    code = cli.main(["grade", str(SUBMISSIONS), "--out", str(tmp_path / "g.csv"), "--source-dir", str(SOURCE_DIR),
                     "--kernel", "no-such-kernel"])
    assert code == 2 and "no-such-kernel" in capsys.readouterr().err


# ---------------------------------------------------------------- hostile submissions
# student -> what it tries; each must score no more than the untouched student version (0) in the sandbox
HOSTILE_STUDENTS = ["untouched", "patcher", "reader", "writer", "socket", "editor", "hog"]


def _answer_server():
    """A helper on the grading machine's loopback that hands the solution to whoever connects."""
    answer = (HOSTILE / "socket_answer.py").read_bytes()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.1", ANSWER_PORT))
    except OSError:
        srv.close()
        return None
    srv.listen(8)
    srv.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                with conn:
                    conn.settimeout(5)
                    conn.recv(1024)  # the request: unread, it would turn the close into a reset
                    conn.sendall(answer)
                    conn.shutdown(socket.SHUT_WR)
            except OSError:  # a timeout of accept(), or a client gone before the answer
                continue
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return stop


@pytest.fixture(scope="module")
def answer_server():
    stop = _answer_server()
    if stop is None:
        pytest.skip(f"port {ANSWER_PORT} is busy: the socket submission's helper cannot listen")
    yield
    stop.set()


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _processes_matching(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory, answer_server):
    """The hostile class graded in the sandbox from a scratch copy, the grader's cwd inside it."""
    needs_sandbox()
    tmp = tmp_path_factory.mktemp("hostile")
    shutil.copytree(SOURCE_DIR, tmp / "source")
    shutil.copytree(HOSTILE, tmp / "subs", ignore=shutil.ignore_patterns("*.py"))
    (tmp / "out").mkdir()
    (tmp / "out" / "grades_last_week.csv").write_text("student,total\nalice,4\n")
    package = Path(grading.__file__).resolve().parent
    before = _tree_digest(tmp)
    hidden_mtime = (package / "hidden.py").stat().st_mtime_ns
    out = tmp / "out" / "grades.csv"
    lines: list[str] = []
    cwd = os.getcwd()
    os.chdir(tmp)  # what the attacks find through /proc if the sandbox lets them: the grader's cwd
    try:
        start = time.monotonic()
        results = grading.grade([tmp / "subs"], tmp / "source", out, cell_timeout=10, total_timeout=40,
                                memory_limit=2 * 2**30, log=lines.append)
        seconds = time.monotonic() - start
    finally:
        os.chdir(cwd)
    written = out.read_bytes()
    time.sleep(2.0)  # time for anything left behind to strike
    print("\n".join(lines))
    with out.open(newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    return dict(tmp=tmp, rows=rows, results=results, before=before, out=out, written=written, seconds=seconds,
                hidden_mtime=hidden_mtime, package=package)


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_hostile_submissions_earn_nothing_in_the_sandbox(hostile_class):
    rows = hostile_class["rows"]
    assert set(rows) == {"correct", *HOSTILE_STUDENTS}
    assert rows["correct"]["total"] == "4", rows["correct"]  # a correct submission: full marks in the sandbox
    untouched = float(rows["untouched"]["total"])
    assert untouched == 0
    for student in HOSTILE_STUDENTS:
        assert float(rows[student]["total"]) <= untouched, (student, rows[student])
        assert rows[student]["sandbox"] == "bwrap"
    assert "raised" in rows["hog"]["status"]  # MemoryError at the address-space limit, and the run went on


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_hostile_submissions_change_nothing_outside(hostile_class):
    tmp, package = hostile_class["tmp"], hostile_class["package"]
    after = _tree_digest(tmp)
    before = hostile_class["before"]
    assert {k: v for k, v in after.items() if not k.startswith("out/grades.csv") and not k.startswith("out/feedback")} \
        == before  # the instructor notebook, every submission and last week's grades are untouched
    assert hostile_class["out"].read_bytes() == hostile_class["written"]  # nothing edited grades.csv afterwards
    assert not _processes_matching("medkit-editor-daemon")  # nothing a submission started outlives its kernel
    assert (package / "hidden.py").stat().st_mtime_ns == hostile_class["hidden_mtime"]
    for directory in (tmp, tmp / "source", tmp / "out", package, Path.home(), Path("/"), package.parent):
        assert not (directory / "PWNED_BY_WRITER.txt").exists(), directory


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_without_the_sandbox_the_attacks_are_real_and_the_patcher_still_fails(tmp_path, answer_server):
    """--no-sandbox: comparing outside still defeats the patcher; the reader and the socket helper do get the
    answers and the editor's leftover process does rewrite grades.csv (which is what the sandbox is for, and what
    the warning says). The writer is not run here: it would damage this checkout."""
    subs = [HOSTILE / f"{name}_00_fixture.ipynb"
            for name in ("correct", "untouched", "patcher", "reader", "socket", "editor")]
    out = tmp_path / "grades.csv"
    warnings: list[str] = []
    try:
        grading.grade(subs, SOURCE_DIR, out, cell_timeout=CELL_TIMEOUT, sandbox=False, log=lambda _: None,
                      warn=warnings.append)
        rows = {row["student"]: row for row in csv.DictReader(out.open(newline=""))}
        assert {s: rows[s]["total"] for s in rows} == {"correct": "4", "untouched": "0", "patcher": "0",
                                                        "reader": "4", "socket": "4", "editor": "0"}
        assert {row["sandbox"] for row in rows.values()} == {"none"} and len(warnings) == 1
        edited = False
        for _ in range(50):  # the editor's process outlives its kernel and gives it full marks
            time.sleep(0.2)
            rows = {row["student"]: row for row in csv.DictReader(out.open(newline=""))}
            if rows.get("editor", {}).get("total") == "4":
                edited = True
                break
        assert edited, "the editor's leftover process did not rewrite grades.csv"
    finally:
        for pid in _processes_matching("medkit-editor-daemon"):
            os.kill(pid, 9)


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_the_student_kernel_never_receives_the_expected_values(monkeypatch):
    """Record every message sent to the student's kernel and search it for the expected values and tolerances."""
    import json

    from jupyter_client.session import Session

    sources = grading.load_sources(SOURCE_DIR)
    refs = grading.compute_references(sources["00_fixture"], cell_timeout=20)
    sent: list[str] = []
    original = Session.send

    def recording_send(self, stream, msg_or_type, content=None, *args, **kwargs):
        msg = msg_or_type if isinstance(msg_or_type, dict) else {"msg_type": msg_or_type, "content": content}
        sent.append(json.dumps(msg.get("content") or content, default=str))
        return original(self, stream, msg_or_type, content, *args, **kwargs)

    monkeypatch.setattr(Session, "send", recording_send)
    result = grading.grade_file(SUBMISSIONS / "alice_00_fixture.ipynb", sources, references={"00_fixture": refs},
                                sandbox=None, cell_timeout=20)
    assert result.total == 4
    text = "\n".join(sent)
    assert "binary_ce(np.array([1.0, 0.0]), np.array([0.9, 0.2]))" in text  # the search sees the probes
    expected = [v for values in refs.values() for v in values if v is not None]
    assert expected
    for value in expected:  # the instructor's values, as any repr the kernel could be sent
        for form in {repr(value), str(value), repr(float(value)), f"{float(value):.6f}", f"{float(value):.10g}"}:
            assert form not in text, form
    for word in ("1.6094379124341003", "0.16425203348601893", "1e-06", "atol", "rtol", "lambda v", "isfinite",
                 "expect("):
        assert word not in text, word


# ---------------------------------------------------------------- the sandbox's set-up, without kernels
def test_missing_bwrap_refuses_to_grade_loudly(tmp_path, capsys, monkeypatch):
    import medkit.classroom.sandbox

    real_which = shutil.which
    monkeypatch.setattr(medkit.classroom.sandbox.shutil, "which", lambda name, *a, **k: None if name == "bwrap"
                        else real_which(name, *a, **k))
    out = tmp_path / "grades.csv"
    code = cli.main(["grade", str(SUBMISSIONS / "alice_00_fixture.ipynb"), "--out", str(out),
                     "--source-dir", str(SOURCE_DIR)])
    err = capsys.readouterr().err
    assert code == 2 and "bwrap (bubblewrap) is not installed" in err and "--no-sandbox" in err
    assert "apt-get install bubblewrap" in err
    assert not out.exists()  # nothing graded


def test_sandbox_binds_are_an_allow_list(tmp_path):
    needs_sandbox()
    from jupyter_client.kernelspec import KernelSpecManager

    repo = Path(__file__).resolve().parents[1]
    argv = KernelSpecManager().get_kernel_spec(grading.KERNEL).argv
    box = Sandbox.detect(argv, [SOURCE_DIR, tmp_path / "grades.csv"])
    bound = [Path(p).resolve() for kind, p in box.binds() if kind == "bind"]
    for path in bound:  # never the checkout, the notebooks, the home directory or the fixtures
        assert path not in (repo, repo / "notebooks", Path.home(), Path("/"), Path("/tmp"))
        assert not (repo / "notebooks").resolve().is_relative_to(path)
        assert not SOURCE_DIR.resolve().is_relative_to(path)
    cmd = box.command(tmp_path, tmp_path, ["true"])
    assert "--unshare-all" in cmd and "--clearenv" in cmd and "--die-with-parent" in cmd
    # a protected path inside a bound directory (the medkit package) is refused
    package = Path(medkit.__file__).resolve().parent
    with pytest.raises(SandboxUnavailable, match="would have to show"):
        Sandbox.detect(argv, [package / "notebooks"])


def test_a_reference_failing_its_own_check_stops_the_run(tmp_path, capsys):
    nb = nbformat.read(SOURCE_DIR / "00_fixture.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if "expect(answer" in c.source)
    test_cell.source = test_cell.source.replace("expect(answer, atol=1e-6)", "expect_that(answer, lambda v: v < 0)")
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "00_fixture.ipynb")
    code = cli.main(["grade", str(SUBMISSIONS / "alice_00_fixture.ipynb"), "--out", str(tmp_path / "g.csv"),
                     "--source-dir", str(tmp_path / "src"), "--no-sandbox"])
    err = capsys.readouterr().err
    assert code == 2 and "fails its own check `answer`" in err and "fx-ex1" in err and "cell 9" in err


# ---------------------------------------------------------------- values crossing from a kernel, compared here
def test_codec_round_trip_and_refusals():
    import numpy as np

    from medkit.classroom import hidden

    value = {"a": [1, 2.5, float("nan"), float("-inf"), None, True, "x"], "b": np.arange(6.0).reshape(2, 3),
             "c": np.float32(0.5), "d": (1 + 2j), "e": np.array([True, False])}
    back = hidden.roundtrip(value)
    assert back["a"][:2] == [1, 2.5] and np.isnan(back["a"][2]) and back["a"][3] == -np.inf
    assert back["a"][4:] == [None, True, "x"]
    assert back["b"].shape == (2, 3) and back["b"].dtype == np.float64 and back["b"][1, 2] == 5.0
    assert isinstance(back["c"], np.float32) and back["d"] == 1 + 2j and back["e"].dtype == bool
    for bad in (object(), np.array(["a"], dtype=object), {1: 2}, lambda: 0, Ellipsis, {"s": {1, 2}}):
        with pytest.raises(hidden.ValueTransportError):
            hidden.encode(bad)
    # what a hostile kernel might send instead of plain data
    for text in ('[{"__pickle__": "gASV"}]', '[{"__ndarray__": {"dtype": "|O", "shape": [1], "data": "", '
                 '"scalar": false}}]', '[{"__ndarray__": {"dtype": "<f8", "shape": [2], "data": "AAAA", '
                 '"scalar": false}}]', "[NaN]", '{"not": "a list"}', "[" * 100000, 'x' * 10):
        with pytest.raises(hidden.ValueTransportError):
            hidden.loads(text)


def test_compare_is_strict_where_it_matters():
    import numpy as np

    from medkit.classroom.hidden import Raised, check_predicate, check_raised, compare

    assert compare(1.6094379, 1.6094379124341003, atol=1e-6) == ""
    assert compare(1.6094, 1.6094379124341003, atol=1e-6) == "wrong value"
    assert compare([0.3], np.array([0.3])) == "" and compare((32, 896), [32, 896]) == ""
    assert compare(np.zeros(3), np.zeros((3, 1))) == "wrong shape (3,)"
    assert compare(float("nan"), 0.0) == "wrong value" and compare(float("nan"), float("nan")) == ""
    assert compare(1, True).startswith("wrong type") and compare(True, True) == ""
    assert compare("0.5", 0.5).startswith("wrong type")
    assert compare({"a": 1.0, "b": 2.0}, {"a": 1.0}) == "wrong keys"
    assert compare(Raised("ZeroDivisionError", ("ZeroDivisionError", "Exception")), 1.0) == \
        "raised ZeroDivisionError"
    assert check_raised(Raised("MyError", ("MyError", "ValueError", "Exception")), "ValueError") == ""
    assert check_raised(1.0, "ValueError") == "did not raise ValueError"
    assert check_predicate(np.zeros(2), lambda v: v.shape == (2,)) == ""
    assert check_predicate("text", lambda v: v.shape == (2,)).startswith("a required property")


def test_hidden_test_markup_is_parsed_not_run():
    from medkit.classroom.markup import MarkupError, parse_hidden_test

    checks = parse_hidden_test("from medkit.classroom.hidden import expect, expect_that, raises\n"
                               "expect(f(np.array([1.0])), atol=1e-6, rtol=0)\n"
                               "expect_that(g(2), lambda v: v > 0)\n"
                               "with raises(np.linalg.LinAlgError):\n    h([])\n")
    assert [(c.kind, c.expr) for c in checks] == [("expect", "f(np.array([1.0]))"), ("expect_that", "g(2)"),
                                                  ("raises", "h([])")]
    assert checks[0].atol == 1e-6 and checks[0].rtol == 0 and checks[2].exception == "LinAlgError"
    assert checks[1].predicate == "lambda v: v > 0"
    for source, fragment in [("assert f(1) == 2", "an `assert` statement"), ("x = f(1)", "an `assign` statement"),
                             ("expect(f(1), atol=tol)", "number literal"), ("expect_that(x, np.isfinite)", "lambda"),
                             ("import os\nexpect(x)", "`import os`: a hidden test imports only from medkit"),
                             ("from medkit.hidden import expect\nexpect(x)",
                              r"imports only from medkit\.classroom\.hidden"), ("", "no check"),
                             ("with raises(ValueError):\n    x = 1", "single expression")]:
        with pytest.raises(MarkupError, match=fragment):
            parse_hidden_test(source, "nb, cell 3")


def test_a_predicate_continued_over_several_lines_compiles_on_its_own():
    """Chapter 6's mask check spans lines inside expect_that(...): the extracted lambda must still compile."""
    from medkit.classroom.markup import parse_hidden_test

    source = ("expect_that(make_mask(10),\n"
              "            lambda m: len(m) == 10\n"
              "            and min(m) >= 0)\n")
    (check,) = parse_hidden_test(source)
    predicate = eval(compile(check.predicate, "<predicate>", "eval"))  # noqa: S307 - test input
    assert predicate([0] * 10) and not predicate([0] * 9)
