"""The errata table's rows (book/errata.json): valid, loaded by medkit.book.repro, every key glued by a chapter,
and each row quoting the source article exactly."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from medkit import REPO_ROOT
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


# --- the article's own words, quoted next to each erratum ------------------------------------------------

ARTICLE = REPO_ROOT.parent / "shared" / "source" / "article.zh.md"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _squeeze(text: str) -> str:
    """Text with whitespace and maths delimiters taken out: a display formula of the article and the same
    formula written inline in a quote (possibly split at its = signs) compare equal; the article's escaped
    underscore ``\\_`` counts as the ``_`` a quote writes."""
    return re.sub(r"\s+|\$", "", text).replace("\\_", "_")


def test_every_row_quotes_the_article_and_translates_its_words():
    for row in load_rows():
        quote = row["quote"]
        assert quote, f"{row['correct']}: no quotation of the article"
        if CJK.search(quote):
            assert row["quote_en"] and not CJK.search(row["quote_en"]), f"{row['correct']}: no English for {quote!r}"


@pytest.mark.skipif(not ARTICLE.is_file(), reason=f"the source article is not at {ARTICLE} in this checkout")
def test_quotes_are_exact():
    article = _squeeze(ARTICLE.read_text(encoding="utf-8"))
    for row in load_rows():
        for piece in row["quote"].split("…"):
            assert _squeeze(piece) in article, f"{row['correct']}: {piece!r} is not in the article as printed"


def test_the_table_shows_the_quote_marked_as_chinese(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 1. Cross-entropy loss\n\n## The source article's worked example")]
    nbformat.write(nb, tmp_path / "01_cross_entropy.ipynb")
    results = {"01_cross_entropy": {"values": {"ce_article_printed": 0.105, "ce_if_prediction_right": 0.10536,
                                               "ce_article_example": 2.302585}}}
    rows = repro.errata_rows(results, tmp_path)
    quote = next(r for r in load_rows() if r["correct"] == "ce_if_prediction_right")["quote"]
    line = next(r for r in rows if "reading the true class as the first" in r)
    assert f'<span lang="zh">「{quote}」</span>' in line
    assert "so the cross-entropy loss is" in line


@pytest.mark.parametrize("extra, match", [
    ({"quote": 3}, "quote"),
    ({"quote": "  "}, "quote"),
    ({"quote_en": "the loss is"}, "quote_en"),
])
def test_bad_quotes_are_refused(tmp_path, extra, match):
    path = tmp_path / "errata.json"
    row = {"stem": "01_x", "example": "e", "article_section": "4.1", "printed": None, "correct": "k", **extra}
    path.write_text(json.dumps({"rows": [row]}))
    with pytest.raises(ValueError, match=match):
        load_rows(path)


def test_a_file_that_is_not_json_is_an_error_naming_it(tmp_path):
    path = tmp_path / "errata.json"
    path.write_text('{"rows": [')
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        load_rows(path)
