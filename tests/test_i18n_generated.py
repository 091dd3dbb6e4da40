"""The Chinese edition's generated parts (issue 16): glued text values, figures, the errata table and the
execution report in Chinese.

- every glued text value of the reference (full and smoke) has a Chinese translation in
  ``i18n/zh_CN/glue.json``, and so does every value the chapters' code can produce (the English in the
  catalog is checked against the string constants of the notebook code that makes it; composite values are
  generated with the real ``in_words`` of chapter 7, ``medkit.deploy.ShiftReport.summary`` and
  ``medkit.validation.check_equal_widths``);
- the Chinese staging of a small executed notebook shows the translated values (read back as myst-nb reads
  them), keeps the names, and prints and lists a value with no translation;
- a figure's Chinese drawing replaces ``image/png`` in the Chinese staging only, and no published notebook
  keeps the alternate drawing; ``i18n status`` counts the figures and lists untranslated figure strings;
- the Chinese errata table and execution report are Chinese, with the English anchors and the values.
"""
from __future__ import annotations

import ast
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from medkit.book import errata, i18n, repro, site
from medkit.glue import GLUE_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[1]
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def catalog() -> i18n.GlueCatalog:
    return i18n.load_glue_catalog()


def glued(name: str, value) -> nbformat.NotebookNode:
    """The output ``medkit.glue.glue(name, value, display=False)`` writes in a notebook, captured from IPython."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from medkit.glue import glue

    InteractiveShell.instance()
    with capture_output() as cap:
        glue(name, value, display=False)
    (out,) = cap.outputs
    return nbformat.v4.new_output("display_data", data=out.data, metadata=out.metadata)


def code_of(stem: str) -> list[ast.Module]:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    modules = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                modules.append(ast.parse(cell.source))
            except SyntaxError:  # a cell with IPython magics
                continue
    return modules


def function_from_notebook(stem: str, name: str):
    """The function ``name`` as the notebook defines it (only its definition is executed)."""
    for module in code_of(stem):
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                namespace: dict = {}
                exec(compile(ast.Module([node], type_ignores=[]), f"{stem}.ipynb", "exec"), namespace)
                return namespace[name]
    raise AssertionError(f"{stem} defines no function {name}")


# --------------------------------------------------------------------------- glued text values


def test_every_text_value_of_the_reference_has_a_translation():
    states = i18n.glue_states()
    missing = [(s.name, s.en) for s in states if s.state != "translated"]
    assert not missing, f"no Chinese in i18n/zh_CN/glue.json for {missing}"
    names = {s.name for s in states}
    assert {"mm_gain_verdict", "best_fusion", "dp_shift_summary", "fusion_width_error", "dp_site_b_best"} <= names
    assert "ce_logit_naive" not in names, "'inf' is a number, not text"
    for s in states:
        assert not LATIN_WORD.search(re.sub(r"\b\w+_\w+\b|projection_dim=k|\.skipped", "", s.zh)), \
            f"{s.name}: English left in {s.zh!r}"


def test_the_english_in_the_catalog_is_what_the_notebook_code_writes():
    """Each listed English value is a string constant of the notebook that makes it: a reworded verdict in a
    chapter shows up here, not as an English phrase on a Chinese page."""
    data = json.loads((REPO_ROOT / "i18n" / "zh_CN" / "glue.json").read_text(encoding="utf-8"))
    cat = catalog()
    checked = 0
    for name, rule in data["glue"].items():
        stem = re.match(r"notebooks/(\d\d_\w+)\.ipynb", rule.get("source", ""))
        if not stem or "values" not in rule:
            continue
        constants = {n.value for m in code_of(stem.group(1)) for n in ast.walk(m)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        for english in rule["values"]:
            assert english in constants, f"{name}: {english!r} is not written by {stem.group(0)}"
            assert cat.translate(name, english) == rule["values"][english]
            checked += 1
    assert checked >= 12
    # both alternatives of every two-way verdict are there
    for name in ("mm_gain_verdict", "mm_md_verdict", "dp_auroc_reading", "dp_elapsed_batch_reading",
                 "dp_elapsed_scale_reading", "dp_elapsed_target_verdict"):
        assert len(data["glue"][name]["values"]) == 2, name
    assert set(data["rules"]["noise_verdict"]["values"]) == {function_from_notebook("07_deployment", "verdict")(ci)
                                                           for ci in ((0.1, 0.2), (-0.1, 0.2))}


def test_every_fusion_and_modality_has_a_translation():
    from medkit.data import MODALITIES

    fusions = next(n for m in code_of("06_multimodal_model") for n in ast.walk(m)
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "fusions")
    cat = catalog()
    for fusion in ast.literal_eval(fusions.value):
        for name in ("best_fusion", "mm_val_top_fusion", "dp_fusion"):
            assert cat.translate(name, fusion), (name, fusion)
    for m in MODALITIES:
        for name in ("mm_best_single", "mm_worst_missing"):
            assert cat.translate(name, m), (name, m)


def test_chapter_7s_lists_of_modalities_in_every_combination():
    from medkit.data import MODALITIES

    in_words = function_from_notebook("07_deployment", "in_words")
    cat = catalog()
    seen = set()
    for k in range(len(MODALITIES) + 1):
        for subset in itertools.combinations(MODALITIES, k):
            english = in_words(list(subset))
            for name in ("dp_shift_flagged_words", "dp_same_site_flagged_words"):
                zh = cat.translate(name, english)
                assert zh and not LATIN_WORD.search(zh), (english, zh)
                seen.add(zh)
            if len(subset) == 1:
                assert cat.translate("dp_site_b_best", f"without {english}").startswith("去掉")
    assert "影像、临床记录和声音" in seen and "影像和声音" in seen and "无" in seen
    assert cat.translate("dp_site_b_best", "with every modality") == "所有模态齐全时"
    assert cat.translate_value("dp_shift_flagged", ["image", "audio"]) == ["影像", "声音"]


def test_every_shift_summary_has_a_translation():
    from medkit import deploy

    cat = catalog()
    statistics = [(m, s) for m, names in deploy._STAT_MODALITY.items() for s in names]
    statistics += [(m, f"{m} embedding") for m in ("image", "text", "audio")]
    for k, flagged_rows in enumerate([statistics, statistics[:1], statistics[5:9], [statistics[-1]], []]):
        table = pd.DataFrame({"modality": [m for m, _ in statistics], "statistic": [s for _, s in statistics],
                              "flagged": [(m, s) in flagged_rows for m, s in statistics]})
        flagged = [m for m in ("image", "text", "audio") if any(mm == m for mm, _ in flagged_rows)]
        report = deploy.ShiftReport(table, flagged, 320, 60, 0.01,
                                    skipped=[("p1", "unreadable")] * (k % 2))
        english = report.summary()
        zh = cat.translate("dp_shift_summary", english)
        assert zh is not None, english
        assert not LATIN_WORD.search(zh.replace(".skipped", "")), (english, zh)
        assert ("跳过了 1 位患者" in zh) == bool(k % 2)
    assert cat.translate("dp_shift_summary", "shift detected in image (no_such_statistic)") is None


def test_the_width_error_of_every_fusion_has_a_translation():
    from medkit.validation import check_equal_widths

    for what, other in (("average_fusion", "concat_fusion"), ("sum_fusion", "concat_fusion"),
                        ("AverageFusion", "ConcatFusion")):
        with pytest.raises(ValueError) as err:
            check_equal_widths([6, 4, 3], what, other)
        zh = catalog().translate("fusion_width_error", str(err.value))
        assert zh == (f"{what} 要求所有模态的宽度相同，得到的宽度却是 [6, 4, 3]。请传入 projection_dim=k，"
                      f"先把它们投影到同一宽度，或者改用 {other}。")


@pytest.mark.parametrize("bad, match", [
    ({"glue": {"x": {"values": {"a": 3}}}}, "'values' must map"),
    ({"glue": {"x": {"templates": [{"en": "a {m:nothing}", "zh": "{m}"}]}}}, "rule 'nothing'"),
    ({"glue": {"x": {"templates": [{"en": "a", "zh": "{m}"}]}}}, "slot"),
    ({"glue": {"x": {"colour": "red"}}}, "unknown key"),
    ({"rules": {"a": {"rule": "b"}, "b": {"rule": "a"}}}, "circle"),
])
def test_a_bad_glue_catalog_is_an_error_naming_the_rule(tmp_path, bad, match):
    path = tmp_path / "glue.json"
    path.write_text(json.dumps({"language": "zh_CN", **bad}))
    with pytest.raises(i18n.CatalogError, match=match):
        i18n.load_glue_catalog(tmp_path)


def _tiny_build(tmp_path: Path, outputs: list) -> tuple[Path, Path]:
    """``build_dir`` with an English staging (config, one notebook) and the executed notebook; a copy of the
    real catalogs as ``i18n_dir``."""
    build = tmp_path / "_build"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 9. Tiny\n\nThe best is {glue:text}`best_fusion`.", id="cell-000"),
                nbformat.v4.new_code_cell("glue_all(...)", id="cell-001", outputs=outputs)]
    (build / "executed").mkdir(parents=True)
    nbformat.write(nb, build / "executed" / "09_tiny.ipynb")
    (build / "site_src" / "notebooks").mkdir(parents=True)
    english = site.strip_for_publication(nbformat.read(build / "executed" / "09_tiny.ipynb", as_version=4))
    nbformat.write(english, build / "site_src" / "notebooks" / "09_tiny.ipynb")
    (build / "site_src" / "_config.yml").write_text("title: T\n", encoding="utf-8")
    shutil.copytree(REPO_ROOT / "book", build / "site_src" / "book")
    i18n_dir = tmp_path / "i18n"
    shutil.copytree(i18n.I18N_DIR, i18n_dir)
    (i18n_dir / "notebooks" / "09_tiny.json").write_text(json.dumps({"language": "zh_CN", "entries": [
        {"id": "cell-000", "field": "source", "en": nb.cells[0].source,
         "zh": "# 9. 小例子\n\n最好的是{glue:text}`best_fusion`。"}]}, ensure_ascii=False), encoding="utf-8")
    return build, i18n_dir


def test_the_chinese_staging_shows_translated_glued_values_and_reports_the_untranslated(tmp_path, capsys):
    from myst_nb.core.variables import format_plain_text

    outputs = [glued("best_fusion", "late"), glued("mm_gain_verdict", "a verdict nobody wrote"),
               glued("dp_shift_flagged", ["image", "audio"]), glued("mm_one_se", 0.0394)]
    build, i18n_dir = _tiny_build(tmp_path, outputs)
    staging, lines = site.stage_zh(build, i18n_dir)
    zh = nbformat.read(staging / "notebooks" / "09_tiny.ipynb", as_version=4)
    data = {o.metadata["scrapbook"]["name"]: o.data for o in zh.cells[1].outputs}
    key = GLUE_PREFIX + "text/plain"
    assert format_plain_text(data["best_fusion"][key], "") == "晚期融合"
    assert format_plain_text(data["dp_shift_flagged"][key], "") == "['影像', '声音']"
    assert data["mm_one_se"][key] == "0.0394"
    assert format_plain_text(data["mm_gain_verdict"][key], "") == "a verdict nobody wrote"
    assert zh.cells[0].source.endswith("最好的是{glue:text}`best_fusion`。")
    assert "09_tiny: 1/1 translated, 1 glued text value(s) in English" in lines
    assert "glued value mm_gain_verdict = 'a verdict nobody wrote' has no translation" in capsys.readouterr().out
    # the English staging and the executed notebook keep the English
    english = nbformat.read(build / "site_src" / "notebooks" / "09_tiny.ipynb", as_version=4)
    assert english.cells[1].outputs[0].data[key] == "'late'"
    assert english.cells[1].outputs[0].metadata["scrapbook"]["name"] == "best_fusion"


def test_i18n_status_lists_a_reference_value_with_no_translation_and_check_fails(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "book").mkdir()
    (repo / "book" / "intro.md").write_text("# Intro\n", encoding="utf-8")
    (repo / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n", encoding="utf-8")
    (repo / "reproducibility").mkdir()
    values = {"best_fusion": {"value": "late"}, "mm_gain_verdict": {"value": "unheard of"},
              "ce_logit_naive": {"value": "inf"}, "n": {"value": 3}}
    (repo / "reproducibility" / "expected.json").write_text(json.dumps(
        {"full": {"06_x": {"values": values}}, "smoke": {}}))
    i18n_dir = tmp_path / "i18n"
    i18n_dir.mkdir()
    shutil.copy(i18n.I18N_DIR / "glue.json", i18n_dir / "glue.json")
    proc = subprocess.run([sys.executable, "-m", "medkit", "i18n", "status", "--check", "--repo", str(repo),
                           "--i18n-dir", str(i18n_dir)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "glued text values (i18n/zh_CN/glue.json): 1/2 translated" in proc.stdout, proc.stdout
    assert "missing mm_gain_verdict: 'unheard of'" in proc.stdout


# --------------------------------------------------------------------------- figures


def _figure_output(prefix: str = "", untranslated: list[str] | None = None, zh: bool = True):
    data = {prefix + "image/png": "RU5HTElTSA==", prefix + "text/plain": "<Figure size 640x480 with 1 Axes>"}
    metadata = {"image/png": {"width": 640, "height": 480}}
    if zh:
        data[prefix + i18n.ZH_FIGURE_MIME] = "Q0hJTkVTRQ=="
        metadata[i18n.ZH_FIGURE_MIME] = {"width": 652, "height": 482, "untranslated": untranslated or []}
    if prefix:
        metadata["scrapbook"] = {"name": "fig_roc", "mime_prefix": prefix}
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def test_the_chinese_drawing_replaces_the_figure_in_the_chinese_staging_only(tmp_path, capsys):
    outputs = [_figure_output(), _figure_output(GLUE_PREFIX), _figure_output(zh=False),
               _figure_output(untranslated=["test AUROC"])]
    build, i18n_dir = _tiny_build(tmp_path, outputs)
    english = nbformat.read(build / "site_src" / "notebooks" / "09_tiny.ipynb", as_version=4)
    staging, lines = site.stage_zh(build, i18n_dir)
    zh = nbformat.read(staging / "notebooks" / "09_tiny.ipynb", as_version=4)
    for published in (english, zh):
        text = json.dumps(published)
        assert "vnd.medkit" not in text, "an alternate drawing is left in a published notebook"
    en_out, zh_out = english.cells[1].outputs, zh.cells[1].outputs
    assert [o.data.get("image/png") for o in en_out] == ["RU5HTElTSA==", None, "RU5HTElTSA==", "RU5HTElTSA=="]
    assert [o.data.get("image/png") for o in zh_out] == ["Q0hJTkVTRQ==", None, "RU5HTElTSA==", "Q0hJTkVTRQ=="]
    assert zh_out[1].data[GLUE_PREFIX + "image/png"] == "Q0hJTkVTRQ=="  # a glued figure too
    assert en_out[1].data[GLUE_PREFIX + "image/png"] == "RU5HTElTSA=="
    assert zh_out[0].metadata["image/png"] == {"width": 652, "height": 482}  # the Chinese drawing's own size
    assert en_out[0].metadata["image/png"] == {"width": 640, "height": 480}
    assert "09_tiny: 1/1 translated, 3/4 figures in Chinese" in lines
    # the executed notebook still has both drawings, and status counts them
    report = i18n.status(i18n_dir=i18n_dir, executed_dir=build / "executed")
    assert [(f.drawn, f.untranslated) for f in report.figures] == [
        (True, []), (True, []), (False, []), (True, ["test AUROC"])]
    capsys.readouterr()
    i18n.print_report(report, verbose=False)
    out = capsys.readouterr().out
    assert "figures drawn in Chinese (executed notebooks): 3/4" in out, out
    assert "09_tiny cell-001: untranslated ['test AUROC']" in out


# --------------------------------------------------------------------------- the errata table and the report


def _notebook(path: Path, cells: list[tuple[str, str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src, id=cid) if kind == "md" else nbformat.v4.new_code_cell(src, id=cid)
                for cid, kind, src in cells]
    nbformat.write(nb, path)


def test_the_chinese_errata_table_is_chinese_with_english_anchors(tmp_path):
    en_dir, zh_dir = tmp_path / "en", tmp_path / "zh"
    en_dir.mkdir()
    zh_dir.mkdir()
    _notebook(en_dir / "01_cross_entropy.ipynb", [("a", "md", "# 1. Cross-entropy loss"),
                                                  ("b", "md", "## The source article's worked example")])
    _notebook(zh_dir / "01_cross_entropy.ipynb", [("a", "md", "# 1. 交叉熵损失"), ("b", "md", "## 原文的算例")])
    results = {"01_cross_entropy": {"values": {"ce_article_printed": 0.105, "ce_if_prediction_right": 0.10536,
                                               "ce_article_example": 2.302585}}}
    rows = repro.errata_rows(results, zh_dir, lang="zh", english_dir=en_dir,
                             translations=errata.load_translations(i18n.I18N_DIR / "errata.json"))
    line = next(r for r in rows if "理解为第一类" in r)
    assert "[第 1 章：原文的算例](../notebooks/01_cross_entropy.ipynb#the-source-articles-worked-example)" in line
    assert "✓ 正确" in line and "「则交叉熵损失为" in line and "cross-entropy loss is" not in line
    assert "✗ **错误**" in next(r for r in rows if "理解为第二类" in r)
    # a row whose English changed shows the English, marked, and status calls it stale
    stale = {k: dict(v, en="Old words") for k, v in errata.load_translations(i18n.I18N_DIR / "errata.json").items()}
    rows = repro.errata_rows(results, zh_dir, lang="zh", english_dir=en_dir, translations=stale)
    assert any("（待翻译）The same prediction" in r for r in rows)


def test_the_chinese_report_has_no_english_sentences(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "01_alpha.ipynb", [("a", "md", "# 1. 第一章")])
    _notebook(nb_dir / "02_beta.ipynb", [("a", "md", "# 2. 第二章")])
    reference = {"full": {"01_alpha": {"parameters": {}, "values": {
        "a": {"value": 1.0, "tol": 1e-9, "kind": "closed-form"},
        "a_seconds": {"value": 1.0, "tol": 0, "kind": "timing"}}},
        "02_beta": {"parameters": {}, "values": {"b": {"value": 2.0, "tol": 1e-9, "kind": "closed-form"}}}},
        "smoke": {}}
    results = {"01_alpha": {"status": "ok", "duration_s": 1.0, "parameters": {}, "values": {"a": 1.0,
                                                                                          "a_seconds": 3.0}},
               "02_beta": {"status": "ok", "duration_s": 2.0, "parameters": {}, "values": {"b": 2.5, "new": 1}}}
    page = repro.report_markdown(results, reference, nb_dir, lang="zh")
    english = repro.report_markdown(results, reference, nb_dir)
    assert page.startswith("# 执行报告\n") and english.startswith("# Execution report\n")
    assert "## 校准" in page and "| 状态 | 章 | 值 | 耗时 |" in page and "✗ **偏离** `b`：期望 2.0，得到 2.5" in page
    prose = re.sub(r"`[^`]*`|\$[^$]*\$|\]\([^)]*\)|\(calibration\)=|\{admonition\}|:class: \w+", " ", page)
    words = set(LATIN_WORD.findall(prose)) - {"papermill", "float", "notebook", "zh", "CPU", "UTC"}
    assert not words, f"English left on the Chinese report: {sorted(words)}"
    coverage = repro.translation_coverage_markdown(lang="zh")
    assert "## 翻译覆盖率（中文版）" in coverage and "| 粘贴的文本值 |" in coverage and "| 勘误表的行 |" in coverage
