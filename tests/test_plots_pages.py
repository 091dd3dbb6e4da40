"""Figures, captions, exercise numbers and self-check lines as the page shows them (issue 14)."""
from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from medkit import data, exercises, plots  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


@pytest.fixture(autouse=True)
def _page_style():
    with matplotlib.rc_context():
        plots.use_page_style()
        yield
    plt.close("all")


def _texts(fig):
    """Every visible text of a figure (titles, labels, ticks, legends, annotations)."""
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def _figures():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    s = np.clip(y * 0.3 + rng.uniform(size=40) * 0.7, 0, 1)
    yield "loss_contour", plots.loss_contour(lambda t: float(t @ t), (-1, 1), (-1, 1), {"run": [[1, 1], [0, 0]]},
                                             n_grid=20).figure
    yield "fusion_diagram", plots.fusion_diagram()[0].figure
    yield "confusion_heatmap", plots.confusion_heatmap([[5, 1], [2, 4]]).figure
    yield "roc_pr_curves", plots.roc_pr_curves(y, {"a": s, "b": 1 - s})[0].figure
    yield "image_grid", plots.image_grid([np.zeros((8, 8))] * 12, [0] * 6 + [1] * 6, n_per_class=6)[0, 0].figure
    audio = rng.normal(size=8000).astype("float32")
    yield "audio_panels", plots.audio_panels({"a": audio, "b": audio * 0.5}, sr=8000)[0, 0].figure
    yield "roc_overlay", plots.roc_overlay(y, {"image": s, "fused": 1 - s}).figure
    yield "reliability_diagram", plots.reliability_diagram(y, {"a": s}).figure
    history = {"loss": [0.7, 0.6], "val_loss": [0.7, 0.65], "val_auroc": [0.6, 0.7]}
    yield "training_curves", plots.training_curves({f"m{i}": history for i in range(5)}, {"m0": 2})[0].figure
    yield "gradcam_overlay", plots.gradcam_overlay(np.zeros((4, 8, 8, 1)), np.zeros((4, 8, 8)), list("abcd"))[0].figure


@pytest.mark.parametrize("name_fig", list(_figures()), ids=lambda nf: nf[0])
def test_figures_fit_the_column_and_their_text_is_legible(name_fig):
    name, fig = name_fig
    width, _ = fig.get_size_inches()
    assert width <= plots.PAGE_WIDTH + 1e-9, f"{name}: {width} in wide, the column holds {plots.PAGE_WIDTH} in"
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < plots.MIN_FONT_PT]
    assert not small, f"{name}: text under {plots.MIN_FONT_PT} pt: {small[:5]}"
    # as the page gets it: a tight crop may grow past the figure when text sticks out
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=plots.PAGE_DPI, bbox_inches="tight")
    png_width = struct.unpack(">I", buffer.getvalue()[16:20])[0]
    assert png_width <= 612, f"{name}: {png_width} px wide; a cell's output area is 612 px"


def test_page_style_draws_twice_the_pixels_and_shows_them_at_the_figure_size():
    assert matplotlib.rcParams["figure.dpi"] == plots.PAGE_DPI
    assert matplotlib.rcParams["savefig.dpi"] == 2 * plots.PAGE_DPI
    # a full-width figure fits the 612 CSS pixels of a cell's output area
    assert plots.PAGE_WIDTH * plots.PAGE_DPI <= 612


def test_audio_panels_read_the_features_from_medkit_data(monkeypatch):
    calls = []
    real_mfcc, real_log_mel = data.mfcc, data.log_mel
    monkeypatch.setattr(data, "mfcc", lambda *a, **k: calls.append("mfcc") or real_mfcc(*a, **k))
    monkeypatch.setattr(data, "log_mel", lambda *a, **k: calls.append("log_mel") or real_log_mel(*a, **k))
    y = np.random.default_rng(1).normal(size=8000).astype("float32")
    axes = plots.audio_panels({"x": y}, sr=8000)
    assert sorted(calls) == ["log_mel", "mfcc"]
    # the MFCC panel shows each coefficient standardised over time, so c0 (about -400 dB-like) cannot flatten it
    shown = axes[2, 0].collections[0].get_array().reshape(20, -1)
    want = plots.standardise_rows(real_mfcc(y, sr=8000))
    np.testing.assert_allclose(shown, want, atol=1e-5)
    np.testing.assert_allclose(shown.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(shown.std(axis=1), 1, atol=1e-4)


def test_standardise_rows_against_a_hand_computation():
    v = np.array([[-400.0, -390.0, -410.0], [1.0, 2.0, 3.0], [7.0, 7.0, 7.0]])
    out = plots.standardise_rows(v)
    np.testing.assert_allclose(out[0], (v[0] + 400) / np.std(v[0]))
    np.testing.assert_allclose(out[1], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert (out[2] == 0).all()
    with pytest.raises(ValueError, match="2-D"):
        plots.standardise_rows([1.0, 2.0])


def test_ci_text_is_compact_with_one_number_of_decimals():
    assert plots.ci_text((0.9, 0.8234, 0.96)) == "0.900 [0.823, 0.960]"
    assert plots.ci_text((0.9, 0.8234, 0.96, 1000, 0.05), digits=2) == "0.90 [0.82, 0.96]"


def _cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_a_numbered_caption_that_the_text_cites(path):
    cells = _cells(path)
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    names = []
    for c in cells:
        if c.cell_type != "code":
            continue
        figure = c.metadata.get("mystnb", {}).get("figure")
        draws = "plt.show()" in c.source
        if draws:
            assert figure, f"{path.name} cell {c.id}: a figure without a caption (mystnb.figure metadata)"
        if figure:
            assert draws, f"{path.name} cell {c.id}: a caption on a cell that draws no figure"
            assert figure.get("caption", "").strip() and figure.get("name", "").startswith("fig-"), figure
            assert "pd.DataFrame" not in c.source.split("plt.show()")[-1], (
                f"{path.name} cell {c.id}: a table after the figure would be captioned as the figure")
            names.append(figure["name"])
    assert len(names) == len(set(names)), f"{path.name}: figure names repeat: {names}"
    for name in names:
        assert f"{{numref}}`{name}`" in prose, f"{path.name}: the text never refers to {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_titles_use_the_numbers_that_the_checks_print(path):
    chapter = int(path.name[:2])
    found = re.findall(r":::\{exercise\} ?(\S*)\n:label: (\S+)\n(:nonumber:)?",
                       "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown"))
    assert found, path.name
    for k, (number, label, nonumber) in enumerate(found, start=1):
        assert nonumber, f"{path.name}: {label} keeps the book-wide automatic number"
        assert number == exercises.exercise_number(label) == f"{chapter}.{k}", (path.name, label, number)


def test_a_self_check_prints_one_line_with_a_text_marker(capsys):
    right = exercises.check_ce_value(-np.log(1 - 0.8))
    wrong = exercises.check_ce_value(0.1)
    todo = exercises.check_ce_value(...)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" Exercise 1.1: ")[0] for line in lines] == ["[ok]", "[not yet]", "[to do]"]
    assert lines == [right.line, wrong.line, todo.line]
    assert all(line.isascii() for line in (line.split(":")[0] for line in lines))
    # in a notebook the returned result adds nothing to the printed line
    assert right._ipython_display_() is None and capsys.readouterr().out == ""
