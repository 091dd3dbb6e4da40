"""What instructors use to hand out and grade the chapters' exercises; no chapter teaches it.

- :mod:`medkit.classroom.markup`: the exercise markup of the notebooks (solution, self-check and hidden-test cells);
- :mod:`medkit.classroom.student`: ``student``, write student versions (solutions stubbed, hidden tests removed);
- :mod:`medkit.classroom.grade`: ``grade``, grade submissions into ``grades.csv``;
- :mod:`medkit.classroom.sandbox`: the bubblewrap sandbox each submission's kernel runs in;
- :mod:`medkit.classroom.hidden`: ``expect``, ``expect_that`` and ``raises``, what hidden-test cells import.
"""
