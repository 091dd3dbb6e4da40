"""Figures in the reader's language (issue 16): the catalog, the drawing, IPython, and the executed chapters."""
from __future__ import annotations

import base64
import io
import json
import re
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from medkit import language, plots  # noqa: E402

ZH_MIME = plots.alternate_mime("zh")
needs_cjk = pytest.mark.skipif(plots.cjk_family() is None,
                               reason="no CJK font: `make setup` installs fonts-noto-cjk")


@pytest.fixture(autouse=True)
def _clean():
    with matplotlib.rc_context():
        yield
    plt.close("all")
    language.set_language(None)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def _figure():
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(["image", "text", "audio"], [0.7, 0.8, 0.75], label="test AUROC")
    ax.set(xlabel="model (AUROC)", ylabel="test AUROC", title="ROC curves, test split")
    ax.legend()
    ax.annotate("article's example", (0, 0.7))
    return fig, ax


# ---------------------------------------------------------------- the catalog
def test_slots_translate_their_contents_and_the_most_specific_template_wins():
    cat = plots.FigureCatalog({"⟨m⟩ (⟨v⟩)": "⟨m⟩（⟨v⟩）", "⟨m⟩ (Brier ⟨v⟩)": "⟨m⟩（Brier ⟨v⟩）",
                               "late": "晚期融合", "without ⟨m⟩": "缺少⟨m⟩", "image": "图像"})
    assert cat.translate("late (Brier 0.245)") == ("晚期融合（Brier 0.245）", [])
    assert cat.translate("image (0.648)") == ("图像（0.648）", [])
    assert cat.translate("without image") == ("缺少图像", [])
    assert cat.translate("without sound") == ("缺少sound", ["sound"])


def test_numbers_and_maths_need_no_translation_and_lines_are_tried_one_by_one():
    cat = plots.FigureCatalog({"epoch": "轮次", "loss": "损失"})
    assert cat.translate("0.25") == ("0.25", [])
    assert cat.translate(r"$\theta_0$") == (r"$\theta_0$", [])
    assert cat.translate("epoch\nloss") == ("轮次\n损失", [])
    assert cat.translate("epoch\nrate") == ("轮次\nrate", ["rate"])


@pytest.mark.parametrize("strings, message", [
    ({"without ⟨m⟩": "缺少"}, "same slots"),
    ({"loss": ""}, "non-empty"),
])
def test_a_bad_catalog_entry_is_an_error_naming_the_entry(strings, message):
    with pytest.raises(ValueError, match=message):
        plots.FigureCatalog(strings, source="figures.json")


def test_an_unreadable_catalog_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "figures.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="figures.json"):
        plots.FigureCatalog.load(path)


def test_the_shipped_catalog_loads_and_every_entry_is_chinese_or_kept_as_is():
    cat = plots.figure_catalog("zh")
    assert len(cat.exact) + len(cat.templates) > 100
    raw = json.loads(plots.FIGURE_CATALOGS["zh"].read_text(encoding="utf-8"))["strings"]
    for en, zh in raw.items():
        words = re.sub(r"⟨\w+⟩", "", zh)
        # abbreviations (AUROC, TP, Hz) and identifiers (P⟨id⟩) are kept as they are
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) or zh == en or not plots.needs_translation(words), en


# ---------------------------------------------------------------- drawing
def test_translated_changes_every_text_and_restores_the_english_figure_exactly():
    fig, ax = _figure()
    before = _png(fig)
    with plots.translated(fig, "zh") as missing:
        fig.canvas.draw()
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ax.get_xlabel() == "模型（AUROC）" and ax.get_title() == "ROC 曲线，测试集"
        assert ticks == ["影像", "临床记录", "声音"]
        assert ax.get_legend().get_texts()[0].get_text() == "测试集 AUROC"
        assert missing == []
    assert ax.get_xlabel() == "model (AUROC)"
    assert _png(fig) == before


def test_strings_without_a_translation_are_reported_and_drawn_in_english():
    fig, ax = plt.subplots()
    ax.set_xlabel("a label nobody translated")
    with plots.translated(fig, "zh") as missing:
        fig.canvas.draw()
        assert ax.get_xlabel() == "a label nobody translated"
    assert missing == ["a label nobody translated"]


def test_english_draws_the_figure_unchanged():
    fig, ax = _figure()
    with plots.translated(fig, "en") as missing:
        assert ax.get_xlabel() == "model (AUROC)"
    assert missing == []


@needs_cjk
def test_chinese_labels_are_drawn_with_a_cjk_font_not_boxes():
    fig, _ = _figure()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with plots.translated(fig, "zh"):
            zh = mpimg.imread(io.BytesIO(_png(fig)))
    assert not [w for w in caught if "missing from font" in str(w.message)]
    en = mpimg.imread(io.BytesIO(_png(fig)))
    assert zh.shape != en.shape or not np.array_equal(zh, en)


# ---------------------------------------------------------------- IPython: one setting, two drawings
@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    monkeypatch.setenv(language.FIGURE_LANGS_VAR, "zh")
    monkeypatch.setenv(language.ENV_VAR, "en")
    plots.use_page_style()
    yield ip
    ip.display_formatter.formatters.pop(ZH_MIME, None)


@needs_cjk
def test_the_book_run_draws_each_figure_in_english_and_in_chinese(shell):
    fig, _ = _figure()
    data, md = shell.display_formatter.format(fig)
    assert {"image/png", ZH_MIME} <= set(data)
    en = mpimg.imread(io.BytesIO(base64.b64decode(data["image/png"])))
    zh = mpimg.imread(io.BytesIO(base64.b64decode(data[ZH_MIME])))
    assert not np.array_equal(en[:50], zh[:50]) or en.shape != zh.shape
    assert abs(md[ZH_MIME]["width"] - md["image/png"]["width"]) < 0.1 * md["image/png"]["width"]
    assert "untranslated" not in md[ZH_MIME]
    # other objects get no drawing
    table, _ = shell.display_formatter.format(pd.DataFrame({"a": [1]}))
    assert ZH_MIME not in table


@needs_cjk
def test_the_language_setting_makes_the_figure_itself_chinese(shell):
    fig, _ = _figure()
    english, _ = shell.display_formatter.format(fig)
    language.set_language("zh")
    data, _ = shell.display_formatter.format(fig)
    assert data["image/png"] == english[ZH_MIME]
    assert ZH_MIME not in data  # the extra drawing is for languages other than the one in effect


# ---------------------------------------------------------------- the executed chapters
@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@needs_cjk
def test_every_figure_of_the_executed_chapters_has_a_complete_chinese_drawing(smoke_run):
    n = 0
    for path in sorted((smoke_run.build_dir / "executed").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", ""))
                assert "missing from font" not in text, (path.name, text[:200])
                data = out.get("data", {})
                if "image/png" not in data:
                    assert ZH_MIME not in data, (path.name, cell["id"])
                    continue
                n += 1
                assert ZH_MIME in data, (path.name, cell["id"])
                untranslated = out["metadata"].get(ZH_MIME, {}).get("untranslated", [])
                assert not untranslated, (f"{path.name} cell {cell['id']}: "
                                          f"add to i18n/zh_CN/figures.json: {untranslated}")
    assert n >= 20


def test_figures_name_the_modalities_and_fusions_as_the_prose_does():
    # one term, one translation: a legend says what the sentence beside it says
    from medkit.book import i18n
    from medkit.data import MODALITIES

    glue = json.loads((i18n.I18N_DIR / "glue.json").read_text(encoding="utf-8"))["rules"]
    figures = plots.figure_catalog("zh").exact
    for m in MODALITIES:
        assert figures[m] == glue["modality"]["values"][m], m
    for fusion, zh in glue["fusion"]["values"].items():
        assert figures[fusion] in zh, fusion
