"""The errata table's rows (book/errata.json): valid, loaded by medkit.book.repro, and every key glued by a chapter."""
from __future__ import annotations

import json

import pytest

from medkit.book import repro
from medkit.book.errata import ERRATA_FILE, load_rows


def test_rows_load_and_feed_repro():
    rows = load_rows()
    assert len(rows) == len(repro.ERRATA) >= 10
    assert [e.correct for e in repro.ERRATA] == [r["correct"] for r in rows]


def test_every_key_is_glued_by_its_chapter_in_the_reference():
    reference = repro.load_reference()["full"]
    for row in load_rows():
        values = reference[row["stem"]]["values"]
        for key in (row["printed"], row["correct"]):
            assert key is None or key in values, f"{row['stem']}: {key} is not in the full reference"


def test_both_readings_and_both_conventions_are_rows():
    correct = {r["correct"] for r in load_rows()}
    assert {"ce_article_example", "ce_if_prediction_right"} <= correct
    assert {"gd_article_update", "gd_article_update_mean_convention"} <= correct


@pytest.mark.parametrize("rows, match", [
    ({"rows": [{"stem": "01_x", "example": "e", "article_section": "4.1", "printed": None}]}, "missing"),
    ({"rows": [{"stem": "01_x", "example": "e", "article_section": "4.1", "printed": None, "correct": "k",
                "colour": "red"}]}, "unknown"),
    ({"rows": [{"stem": "", "example": "e", "article_section": "4.1", "printed": None, "correct": "k"}]}, "stem"),
    ({"rows": [{"stem": "01_x", "example": "e", "article_section": "4.1", "printed": 0.1, "correct": "k"}]}, "printed"),
    ({"table": []}, "rows"),
])
def test_bad_files_are_refused_with_the_row(tmp_path, rows, match):
    path = tmp_path / "errata.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=match):
        load_rows(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_rows(tmp_path / "nope.json")
    assert ERRATA_FILE.name == "errata.json"


def test_a_file_that_is_not_json_is_an_error_naming_it(tmp_path):
    path = tmp_path / "errata.json"
    path.write_text('{"rows": [')
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        load_rows(path)
