"""Plotting helpers shared by the chapters (matplotlib; seaborn for heatmaps).

Each function draws on a given ``ax`` (or a new figure) and returns the axes,
so a chapter can place several plots side by side. :func:`use_page_style`,
called once in each chapter's imports cell, sizes every figure for the
book's text column: at most :data:`PAGE_WIDTH` inches wide at 100 dpi (a
cell's output area is about 610 CSS pixels), drawn as PNG at twice that resolution, with
no text smaller than :data:`MIN_FONT_PT` points.

Figures speak the language of :mod:`medkit.language` (one setting:
``MEDKIT_LANG`` or :func:`medkit.language.set_language`). Code draws with
English labels; when the language is Chinese, every text of a figure (title,
axis labels, tick labels, legend, annotations) is translated from the
catalog ``i18n/zh_CN/figures.json`` just before the figure is drawn, with a
CJK font as fallback (:func:`translated`). For the book, the runner also
asks for a Chinese drawing of each figure (``MEDKIT_FIGURE_LANGS=zh``): the
same figure object is drawn twice in the same kernel, so the Chinese
edition's figures show exactly the executed values, without a second run.
"""
from __future__ import annotations

import functools
import json
import re
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter
from numpy.typing import ArrayLike

from medkit import REPO_ROOT
from medkit.language import figure_languages, get_language, normalise

#: Widest figure in inches: 6.0 in at 100 dpi is 600 CSS pixels, inside the 612 px a cell's output gets
#: in the book's column (measured in headless Chromium at a 1200 px window), so no figure is scaled down.
PAGE_WIDTH = 6.0
#: Smallest font size (points) any figure uses: ticks, legends and labels.
MIN_FONT_PT = 9
#: Figure resolution in dots per inch; PNGs are drawn at twice this ("retina") and shown at this size.
PAGE_DPI = 100

PAGE_RC = {
    "figure.dpi": PAGE_DPI,
    "savefig.dpi": 2 * PAGE_DPI,
    "figure.figsize": (PAGE_WIDTH, 3.6),
    "figure.constrained_layout.use": False,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11,
    "savefig.bbox": "tight",
}


def use_page_style() -> None:
    """Size figures for the book's column and draw them as 2x PNG (chapter 1, "Confident mistakes").

    Sets :data:`PAGE_RC` in :data:`matplotlib.rcParams` and, inside IPython,
    asks the inline backend for "retina" PNGs: twice the pixels, shown at the
    figure's size, so a 6 in wide figure is a 1200 px image displayed
    600 px wide and a 9 pt label is 12.5 px tall on the page.

    Examples
    --------
    >>> use_page_style()
    >>> mpl.rcParams["figure.dpi"], mpl.rcParams["xtick.labelsize"]
    (100.0, 9.0)
    """
    mpl.rcParams.update(PAGE_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: rcParams are enough
        return
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
        # the inline backend passes its own savefig options; keep the tight crop
        mpl.rcParams.update(PAGE_RC)
        _install_language_formatters(get_ipython())


# ---------------------------------------------------------------- figures in the reader's language
#: Catalog of each language's figure strings (English text -> translation), by language code.
FIGURE_CATALOGS = {"zh": REPO_ROOT / "i18n" / "zh_CN" / "figures.json"}
#: CJK font families, best first: Simplified Chinese forms before the Japanese face of the same font.
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "AR PL UMing CN", "Noto Sans CJK JP")
_SLOT = re.compile(r"⟨(\w+)⟩")
_MATH = re.compile(r"\$[^$]*\$")


def alternate_mime(lang: str) -> str:
    """MIME type under which a figure's drawing in ``lang`` travels in an executed notebook.

    The book's Chinese edition shows that drawing in place of ``image/png``.

    Examples
    --------
    >>> alternate_mime("zh")
    'image/vnd.medkit.zh+png'
    """
    return f"image/vnd.medkit.{normalise(lang)}+png"


def needs_translation(text: str) -> bool:
    """True when ``text`` has words to translate: ASCII letters outside ``$...$`` maths.

    Examples
    --------
    >>> needs_translation("0.25"), needs_translation(r"$\\theta_0$"), needs_translation("test AUROC")
    (False, False, True)
    """
    return re.search(r"[A-Za-z]", _MATH.sub("", text)) is not None


class FigureCatalog:
    """The translations of figure strings into one language (taught in chapter 1, "Confident mistakes").

    An entry maps an English string to its translation. An English key may
    hold slots written ``⟨name⟩``: the slot matches any text, which is itself
    translated (or kept, if it has no words: numbers, maths) and put where the
    translation has the same slot. A string with no entry is translated line by
    line; what is left is reported as untranslated and drawn in English.

    Parameters
    ----------
    strings : mapping of str to str
        English -> translation.
    source : str
        Where the catalog came from, for error messages.

    Examples
    --------
    >>> cat = FigureCatalog({"test AUROC": "测试集 AUROC", "without ⟨m⟩": "缺少⟨m⟩", "image": "图像"})
    >>> cat.translate("without image")
    ('缺少图像', [])
    >>> cat.translate("0.75"), cat.translate("true label")
    (('0.75', []), ('true label', ['true label']))
    """

    def __init__(self, strings: Mapping[str, str], source: str = "catalog") -> None:
        self.source = source
        self.exact: dict[str, str] = {}
        self.templates: list[tuple[re.Pattern[str], str, str]] = []
        for en, tr in strings.items():
            if not isinstance(en, str) or not isinstance(tr, str) or not tr.strip():
                raise ValueError(f"{source}: entry {en!r} must map a string to a non-empty string, got {tr!r}")
            slots_en, slots_tr = set(_SLOT.findall(en)), set(_SLOT.findall(tr))
            if slots_en != slots_tr:
                raise ValueError(f"{source}: entry {en!r}: the translation must use the same slots "
                                 f"{sorted(slots_en)}, got {sorted(slots_tr)}")
            if not slots_en:
                self.exact[en] = tr
                continue
            parts = _SLOT.split(en)
            pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
            self.templates.append((re.compile(f"^{pattern}$", re.S), tr, en))
        # the most specific template first: "⟨m⟩ (Brier ⟨v⟩)" before "⟨m⟩ (⟨v⟩)"
        self.templates.sort(key=lambda t: -len(_SLOT.sub("", t[2])))

    @classmethod
    def load(cls, path: Path) -> FigureCatalog:
        """Read a catalog file ``{"language": ..., "strings": {English: translation}}``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the figure catalog: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("strings"), dict):
            raise ValueError(f"{path}: a figure catalog is an object with a \"strings\" object")
        return cls(data["strings"], source=str(path))

    def translate(self, text: str) -> tuple[str, list[str]]:
        """``text`` translated, and the parts of it that had no translation (kept in English)."""
        if not needs_translation(text):
            return text, []
        if text in self.exact:
            return self.exact[text], []
        stripped = text.strip()
        if stripped != text and stripped in self.exact:
            return text.replace(stripped, self.exact[stripped]), []
        partial: tuple[str, list[str]] | None = None
        for pattern, tr, _ in self.templates:
            match = pattern.match(text)
            if match:
                missing: list[str] = []
                out = tr
                for name, value in match.groupdict().items():
                    value_tr, value_missing = self.translate(value)
                    missing += value_missing
                    out = out.replace(f"⟨{name}⟩", value_tr)
                if not missing:
                    return out, missing
                partial = partial or (out, missing)
        if partial:
            return partial
        if "\n" in text:
            lines = [self.translate(line) for line in text.split("\n")]
            return "\n".join(t for t, _ in lines), [m for _, ms in lines for m in ms]
        return text, [text]


@functools.lru_cache(maxsize=None)
def figure_catalog(lang: str) -> FigureCatalog:
    """The figure catalog of ``lang`` (read once per process); English has none to apply."""
    lang = normalise(lang)
    if lang not in FIGURE_CATALOGS:
        return FigureCatalog({}, source=f"(no catalog for {lang!r})")
    return FigureCatalog.load(FIGURE_CATALOGS[lang])


@functools.lru_cache(maxsize=None)
def cjk_family() -> str | None:
    """The family name of an installed CJK font matplotlib can use, or ``None``.

    matplotlib's font list is cached when it is first imported, so a font
    installed later (``make setup`` installs Debian's ``fonts-noto-cjk``) is
    added here from ``fc-list``.
    """
    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found:
        return found
    try:
        listing = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                                 timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in sorted(set(listing.splitlines())):
        path = line.split(":")[0].strip()
        if path:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return known()


class _TranslatedTicks(Formatter):
    """Wraps an axis formatter so that tick labels with words come out translated."""

    def __init__(self, inner: Formatter, translate: Any) -> None:
        self.inner, self._translate = inner, translate

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._translate(self.inner(x, pos))

    def format_ticks(self, values: Any) -> list[str]:
        return [self._translate(s) for s in self.inner.format_ticks(values)]

    def set_locs(self, locs: Any) -> None:
        self.inner.set_locs(locs)

    def get_offset(self) -> str:
        return self._translate(self.inner.get_offset())


@contextmanager
def translated(fig: Figure, lang: str | None = None) -> Iterator[list[str]]:
    """Inside the block, ``fig``'s texts are in ``lang`` (default: :func:`medkit.language.get_language`).

    Titles, axis labels, legends, annotations and tick labels are translated
    from the figure catalog, and a CJK font is added as a fallback for glyphs
    the page font lacks; on exit everything is restored, so the figure draws in
    English again. Yields the list of strings that had no translation (it is
    filled in when the figure is drawn inside the block).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    lang : str, optional

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = ax.set_xlabel("test AUROC")
    >>> with translated(fig, "zh") as missing:
    ...     ax.get_xlabel()
    '测试集 AUROC'
    >>> ax.get_xlabel(), missing
    ('test AUROC', [])
    >>> plt.close(fig)
    """
    lang = normalise(lang) if lang else get_language()
    missing: list[str] = []
    if lang == "en":
        yield missing
        return
    catalog = figure_catalog(lang)

    def tr(text: str) -> str:
        out, left = catalog.translate(text)
        missing.extend(m for m in left if m not in missing)
        return out

    texts = [(t, t.get_text()) for t in fig.findobj(Text)]
    formatters = []
    for ax in fig.get_axes():
        for axis in ax._axis_map.values():
            for get, put, flag in ((axis.get_major_formatter, axis.set_major_formatter, "isDefault_majfmt"),
                                   (axis.get_minor_formatter, axis.set_minor_formatter, "isDefault_minfmt")):
                inner = get()
                formatters.append((put, inner, axis, flag, getattr(axis, flag)))
                put(_TranslatedTicks(inner, tr))
    # matplotlib falls back glyph by glyph along a text's family list, fixed when the text is made:
    # add the CJK font to each text (and, for texts made while drawing, to the default)
    family = cjk_family()
    fonts = [(t, t.get_fontproperties()) for t, _ in texts]
    rc = {"font.family": [*mpl.rcParams["font.family"], family]} if family else {}
    try:
        for t, text in texts:
            t.set_text(tr(text))
        if family:
            for t, fp in fonts:
                with_cjk = fp.copy()
                with_cjk.set_family([*fp.get_family(), family])
                t.set_fontproperties(with_cjk)
        with mpl.rc_context(rc):
            yield missing
    finally:
        for t, text in texts:
            t.set_text(text)
        for t, fp in fonts:
            t.set_fontproperties(fp)
        for put, inner, axis, flag, default in formatters:
            put(inner)
            setattr(axis, flag, default)


_warned_no_font: set[str] = set()


def _draw_in(base: Any, fig: Figure, lang: str) -> tuple[Any, dict[str, Any]] | None:
    """``base(fig)`` (the inline backend's PNG formatter) drawn with ``fig``'s texts in ``lang``."""
    if lang != "en" and cjk_family() is None:
        if lang not in _warned_no_font:
            _warned_no_font.add(lang)
            warnings.warn("no CJK font found for the figures' Chinese labels (they would show as boxes), so "
                          "figures stay in English; install one, e.g. Debian's fonts-noto-cjk (make setup does).",
                          stacklevel=2)
        return None
    with translated(fig, lang) as missing:
        drawn = base(fig)
    data, md = drawn if isinstance(drawn, tuple) else (drawn, {})
    md = dict(md or {})
    if missing:
        md["untranslated"] = list(missing)
    return data, md


def _alternate(base: Any, fig: Figure, lang: str) -> tuple[Any, dict[str, Any]] | None:
    """The extra drawing in ``lang``, unless ``lang`` is already the language in effect."""
    return None if get_language() == lang else _draw_in(base, fig, lang)


def _install_language_formatters(ip: Any) -> None:
    """Make IPython draw figures in the language in effect, and in each of :func:`figure_languages` too."""
    from IPython.core.formatters import BaseFormatter

    png = ip.display_formatter.formatters["image/png"]
    base = png.lookup_by_type(Figure)

    def in_language(fig: Figure) -> Any:
        lang = get_language()
        if lang == "en":
            return base(fig)
        drawn = _draw_in(base, fig, lang)
        return base(fig) if drawn is None else drawn

    png.for_type(Figure, in_language)
    for lang in figure_languages():
        formatter = BaseFormatter(parent=ip.display_formatter)
        formatter.format_type = alternate_mime(lang)
        # only figures: no fallback to a ``_repr_*_`` method of other objects
        formatter.print_method = "_repr_medkit_alternate_png_"
        formatter.for_type(Figure, functools.partial(_alternate, base, lang=lang))
        ip.display_formatter.formatters[formatter.format_type] = formatter


def standardise_rows(values: ArrayLike) -> np.ndarray:
    """Each row minus its mean, divided by its standard deviation (rows that do not vary become 0).

    Used for MFCC panels: coefficient 0 (the log energy, about -400) is two
    orders of magnitude larger than the others and would flatten a shared
    colour scale; per-coefficient scaling shows how each one moves in time.

    Examples
    --------
    >>> standardise_rows([[1.0, 3.0], [5.0, 5.0]]).tolist()
    [[-1.0, 1.0], [0.0, 0.0]]
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-D array (rows x time); got shape {v.shape}.")
    sd = v.std(axis=1, keepdims=True)
    return np.divide(v - v.mean(axis=1, keepdims=True), sd, out=np.zeros_like(v), where=sd > 0)


def ci_text(ci: Any, digits: int = 3) -> str:
    """An estimate and its interval as compact table text: ``0.900 [0.820, 0.960]`` (chapters 4 and 6).

    ``ci`` is anything that unpacks as ``(estimate, low, high, ...)``, such as
    :class:`medkit.metrics.BootstrapCI` or :class:`medkit.metrics.ProportionCI`;
    the three numbers get the same number of decimals, so a column lines up.

    Examples
    --------
    >>> ci_text((0.9, 0.82, 0.961))
    '0.900 [0.820, 0.961]'
    >>> ci_text((0.9, 0.82, 0.961), digits=2)
    '0.90 [0.82, 0.96]'
    """
    estimate, low, high = tuple(ci)[:3]
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# ---------------------------------------------------------------- chapter 2: gradient descent
def loss_contour(loss_fn: Any, theta0_range: tuple[float, float], theta1_range: tuple[float, float],
                 trajectories: Mapping[str, ArrayLike] | None = None, ax: Any = None, levels: int = 30,
                 n_grid: int = 120) -> Any:
    """Contour plot of a two-parameter loss ``loss_fn(theta) -> float`` with optional trajectories.

    Examples
    --------
    >>> ax = loss_contour(lambda t: float(t @ t), (-1, 1), (-1, 1), {"run": [[1, 1], [0, 0]]})  # doctest: +SKIP
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(PAGE_WIDTH / 2, 3.2))
    t0 = np.linspace(*theta0_range, n_grid)
    t1 = np.linspace(*theta1_range, n_grid)
    zz = np.array([[loss_fn(np.array([a, b])) for a in t0] for b in t1])
    # Log-spaced levels show the narrow valley and the far-away walls at once.
    lv = np.geomspace(max(zz.min(), 1e-12) * 1.001, zz.max(), levels)
    cs = ax.contour(t0, t1, zz, levels=lv, cmap="viridis", linewidths=0.8)
    ax.clabel(cs, cs.levels[::6], fmt="%.2g", fontsize=MIN_FONT_PT)
    for name, path in (trajectories or {}).items():
        p = np.asarray(path, dtype=float)
        ax.plot(p[:, 0], p[:, 1], ".-", ms=3, lw=1, label=name)
    ax.set_xlabel(r"$\theta_0$ (intercept)")
    ax.set_ylabel(r"$\theta_1$ (slope)")
    if trajectories:
        ax.legend()
    return ax


# ---------------------------------------------------------------- chapter 3: fusion
def fusion_diagram(axes: Any = None) -> Any:
    """Early, intermediate and late fusion as three block diagrams stacked top to bottom (chapter 3).

    Drawn with matplotlib only; ``axes`` is a sequence of three axes (a new
    :data:`PAGE_WIDTH` wide figure when omitted).

    Examples
    --------
    >>> axes = fusion_diagram()
    >>> [ax.get_title(loc="left").split()[0] for ax in axes]
    ['Early', 'Intermediate', 'Late']
    >>> plt.close("all")
    """
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(PAGE_WIDTH, 6.6))
    axes = np.atleast_1d(axes)
    if len(axes) != 3:
        raise ValueError(f"fusion_diagram draws three panels; got {len(axes)} axes.")
    colors = {"image": "#8fb8de", "text": "#f4b183", "audio": "#a9d18e", "fuse": "#ffd966", "net": "#d9d9d9"}
    font = 10

    def box(ax: Any, x: float, y: float, text: str, color: str, w: float = 2.6, h: float = 1.0) -> None:
        ax.add_patch(plt.Rectangle((x, y), w, h, facecolor=color, edgecolor="black", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=font)

    def arrow(ax: Any, x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", lw=0.8))

    from medkit.data import MODALITIES

    inputs = list(zip(MODALITIES, (5.2, 3.4, 1.6), strict=True))
    titles = ["Early fusion: combine raw inputs / features", "Intermediate fusion: combine learned embeddings",
              "Late fusion: combine decisions"]
    mid = 3.9  # vertical centre of the fusion box
    for k, (ax, title) in enumerate(zip(axes, titles, strict=True)):
        ax.set_xlim(0, 14)
        ax.set_ylim(1.3, 6.5)
        ax.axis("off")
        ax.set_title(title, loc="left", fontsize=font, fontweight="bold")
        for name, y in inputs:
            box(ax, 0.1, y, name, colors[name], w=1.8, h=1.1)
        if k == 0:
            box(ax, 3.4, mid - 1.0, "concatenate", colors["fuse"], w=2.6, h=2.0)
            for _, y in inputs:
                arrow(ax, 1.9, y + 0.55, 3.4, mid)
            box(ax, 7.2, mid - 0.55, "one model", colors["net"], w=2.6, h=1.1)
            arrow(ax, 6.0, mid, 7.2, mid)
            arrow(ax, 9.8, mid, 11.0, mid)
            ax.text(11.1, mid, "prediction", va="center", fontsize=font)
        elif k == 1:
            for name, y in inputs:
                box(ax, 2.6, y, f"{name} encoder", colors["net"], w=2.8, h=1.1)
                arrow(ax, 1.9, y + 0.55, 2.6, y + 0.55)
                arrow(ax, 5.4, y + 0.55, 6.4, mid)
            box(ax, 6.4, mid - 1.0, "fuse\n(concat / gated)", colors["fuse"], w=2.6, h=2.0)
            box(ax, 9.6, mid - 0.55, "head", colors["net"], w=1.4, h=1.1)
            arrow(ax, 9.0, mid, 9.6, mid)
            arrow(ax, 11.0, mid, 11.6, mid)
            ax.text(11.7, mid, "prediction", va="center", fontsize=font)
        else:
            for name, y in inputs:
                box(ax, 2.6, y, f"{name} model → p", colors["net"], w=3.2, h=1.1)
                arrow(ax, 1.9, y + 0.55, 2.6, y + 0.55)
                arrow(ax, 5.8, y + 0.55, 6.8, mid)
            box(ax, 6.8, mid - 1.0, "average /\nvote", colors["fuse"], w=2.4, h=2.0)
            arrow(ax, 9.2, mid, 10.4, mid)
            ax.text(10.5, mid, "prediction", va="center", fontsize=font)
    return axes


# ---------------------------------------------------------------- chapter 4: metrics
def confusion_heatmap(cm: ArrayLike, ax: Any = None, labels: Sequence[str] = ("negative (0)", "positive (1)"),
                      title: str | None = None) -> Any:
    """Seaborn heatmap of a 2x2 confusion matrix ``[[TN, FP], [FN, TP]]`` with the cell names.

    Examples
    --------
    >>> confusion_heatmap([[1, 1], [1, 1]])  # doctest: +SKIP
    """
    import seaborn as sns

    m = np.asarray(cm)
    if m.shape != (2, 2):
        raise ValueError(f"cm must be a 2x2 confusion matrix; got shape {m.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3.0))
    names = np.array([["TN", "FP"], ["FN", "TP"]])
    annot = np.array([[f"{names[i, j]}\n{m[i, j]}" for j in range(2)] for i in range(2)])
    sns.heatmap(m, annot=annot, fmt="", cmap="Blues", cbar=False, ax=ax, linewidths=1, linecolor="white",
                xticklabels=list(labels), yticklabels=list(labels), annot_kws={"fontsize": 11})
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if title:
        ax.set_title(title)
    return ax


def roc_pr_curves(y_true: ArrayLike, scores: Mapping[str, ArrayLike], axes: Any = None) -> Any:
    """ROC (with AUROC) and precision-recall (with AUPRC and the prevalence line) for several scorers.

    Examples
    --------
    >>> axes = roc_pr_curves([0, 1, 0, 1], {"a": [0.1, 0.9, 0.4, 0.6]})
    >>> [ax.get_title() for ax in axes]
    ['ROC', 'Precision-recall']
    >>> plt.close("all")
    """
    from medkit import metrics

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4))
    y = np.asarray(y_true)
    for name, s in scores.items():
        fpr, tpr, _ = metrics.roc_curve(y, s)
        axes[0].plot(fpr, tpr, label=f"{name}: {metrics.roc_auc(y, s):.3f}")
        p, r, _ = metrics.precision_recall_curve(y, s)
        axes[1].step(r, p, where="post", label=f"{name}: {metrics.average_precision(y, s):.3f}")
    axes[0].plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    axes[0].set(xlabel="1 − specificity (FPR)", ylabel="sensitivity (TPR)", title="ROC")
    prevalence = float(np.mean(y))
    axes[1].axhline(prevalence, color="k", ls=":", lw=0.8, label=f"chance: {prevalence:.2f}")
    axes[1].set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall", ylim=(0, 1.03))
    axes[0].legend(loc="lower right", title="AUROC")
    axes[1].legend(loc="lower left", title="AUPRC")
    return axes


# ---------------------------------------------------------------- chapter 5: the modalities
def image_grid(images: Sequence[np.ndarray], labels: Sequence[int], n_per_class: int = 4,
               titles: Sequence[str] | None = None) -> Any:
    """A grid of grayscale images, one row per class (row 0: label 0, row 1: label 1).

    Examples
    --------
    >>> axes = image_grid([np.zeros((8, 8))] * 4, [0, 0, 1, 1], n_per_class=2)  # doctest: +SKIP
    """
    labels = np.asarray(labels)
    width = min(PAGE_WIDTH, 1.6 * n_per_class)
    fig, axes = plt.subplots(2, n_per_class, figsize=(width, 2 * width / n_per_class + 0.5), squeeze=False)
    for row, value in enumerate((0, 1)):
        chosen = np.flatnonzero(labels == value)[:n_per_class]
        for col in range(n_per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(chosen):
                i = chosen[col]
                ax.imshow(np.squeeze(images[i]), cmap="gray", vmin=0, vmax=1)
                ax.set_title(titles[i] if titles is not None else f"label {value}", fontsize=MIN_FONT_PT)
    fig.tight_layout()
    return axes


_NEGATION_CUES = r"\b(no|not|denies|denied|negative for|without|afebrile)\b"
_FINDING_WORDS = (r"\b(fevers?|febrile|chills|sputum|cough|productive|dyspnoea|breath(?:less)?|crackles|wheeze|"
                  r"dull(?:ness)?|consolidation|pleuritic|pain)\b")


def highlight_note(text: str) -> str:
    """HTML of a note with negation cues in red and finding words in blue (for ``IPython.display.HTML``).

    Examples
    --------
    >>> "color" in highlight_note("Denies fever. Crackles at the right base.")
    True
    """
    import html
    import re

    escaped = html.escape(text)
    escaped = re.sub(_NEGATION_CUES, r'<span style="color:#c0392b;font-weight:bold">\1</span>', escaped, flags=re.I)
    escaped = re.sub(_FINDING_WORDS, r'<span style="color:#1f5fa8;text-decoration:underline">\1</span>', escaped,
                     flags=re.I)
    return f'<p style="font-family:sans-serif;line-height:1.5">{escaped}</p>'


def audio_panels(recordings: Mapping[str, np.ndarray], sr: int, hop_length: int = 256, n_fft: int = 512,
                 n_mfcc: int = 20) -> Any:
    """For each recording (title -> samples): waveform, log-mel spectrogram and MFCCs, one column each (chapter 5).

    The spectrogram and the MFCCs are the features the model reads, computed
    by :func:`medkit.data.log_mel` and :func:`medkit.data.mfcc` (not a second
    copy here). Each MFCC row is standardised over time (:func:`standardise_rows`):
    coefficient 0, the log energy, is about -400 and would otherwise set the
    colour scale and leave the other coefficients one flat colour.

    Examples
    --------
    >>> y = np.random.default_rng(0).normal(size=8000).astype("float32")
    >>> axes = audio_panels({"noise": y}, sr=8000)
    >>> axes.shape, axes[2, 0].get_title()
    ((3, 1), 'MFCC (each row standardised)')
    >>> plt.close("all")
    """
    import librosa.display

    from medkit import data

    n = len(recordings)
    fig, axes = plt.subplots(3, n, figsize=(PAGE_WIDTH, 6.4), squeeze=False, sharex="col", layout="constrained")
    for col, (title, y) in enumerate(recordings.items()):
        t = np.arange(len(y)) / sr
        axes[0, col].plot(t, y, color="#1f5fa8", lw=0.4)
        axes[0, col].set(title=title, ylabel="amplitude" if col == 0 else None)
        mel = data.log_mel(y, sr=sr, n_fft=n_fft, hop_length=hop_length)
        image = librosa.display.specshow(mel, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel",
                                         ax=axes[1, col], cmap="magma", vmin=-80, vmax=0)
        axes[1, col].set(title="log-mel spectrogram", xlabel=None, ylabel="Hz" if col == 0 else None)
        coeffs = standardise_rows(data.mfcc(y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length))
        frames_t = librosa.frames_to_time(np.arange(coeffs.shape[1] + 1), sr=sr, hop_length=hop_length)
        mfcc_image = axes[2, col].pcolormesh(frames_t, np.arange(n_mfcc + 1) - 0.5, coeffs, cmap="coolwarm",
                                             vmin=-3, vmax=3)
        axes[2, col].set(title="MFCC (each row standardised)", xlabel="time (s)",
                         ylabel="coefficient" if col == 0 else None)
        if col > 0:
            for row in range(3):
                axes[row, col].tick_params(labelleft=row != 1)
    fig.colorbar(image, ax=axes[1, :].tolist(), format="%+.0f dB", pad=0.02, fraction=0.05)
    fig.colorbar(mfcc_image, ax=axes[2, :].tolist(), label="z-score", pad=0.02, fraction=0.05)
    return axes


# ---------------------------------------------------------------- chapter 6: the multimodal model
def roc_overlay(y_true: ArrayLike, probabilities: Mapping[str, ArrayLike], ax: Any = None,
                highlight: str | None = None, title: str = "ROC curves, test split") -> Any:
    """All models' ROC curves on one axes, AUROC in the legend; ``highlight`` draws one thicker.

    Examples
    --------
    >>> roc_overlay([0, 1, 0, 1], {"a": [0.1, 0.9, 0.4, 0.6]})  # doctest: +SKIP
    """
    from medkit import metrics
    from medkit.data import MODALITIES

    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.2))
    y = np.asarray(y_true)
    for name, p in probabilities.items():
        fpr, tpr, _ = metrics.roc_curve(y, p)
        unimodal = name in MODALITIES
        ax.plot(fpr, tpr, lw=3 if name == highlight else 1.4, ls="--" if unimodal else "-",
                label=f"{name} ({metrics.roc_auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", title="model (AUROC)")
    return ax


def reliability_diagram(y_true: ArrayLike, probabilities: Mapping[str, ArrayLike], n_bins: int = 5,
                        ax: Any = None) -> Any:
    """Observed frequency of the positive class against mean predicted probability, in equal-count bins.

    Equal-count (quantile) bins keep every point backed by the same number of
    patients, which matters on a test split of a few dozen. A calibrated model
    lies on the diagonal; the Brier score is in the legend.

    Examples
    --------
    >>> reliability_diagram([0, 1, 0, 1], {"a": [0.1, 0.9, 0.4, 0.6]}, n_bins=2)  # doctest: +SKIP
    """
    from medkit import metrics

    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.2))
    y = np.asarray(y_true, dtype=float)
    for name, p in probabilities.items():
        p = np.asarray(p, dtype=float)
        order = np.argsort(p, kind="stable")
        bins = [b for b in np.array_split(order, n_bins) if b.size]
        ax.plot([p[b].mean() for b in bins], [y[b].mean() for b in bins], "o-",
                label=f"{name} (Brier {metrics.brier_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfect calibration")
    ax.set(xlabel="mean predicted probability", ylabel="observed fraction positive", xlim=(0, 1), ylim=(0, 1),
           title="Reliability, test split")
    ax.legend(loc="upper left")
    return ax


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]],
                    best_epochs: Mapping[str, int] | None = None, axes: Any = None) -> Any:
    """Training and validation loss, and validation AUROC, per epoch for several models.

    ``histories`` maps a model name to a Keras history dict (``loss``,
    ``val_loss``, ``val_auroc``); ``best_epochs`` (1-based) marks the epoch
    early stopping kept.

    Examples
    --------
    >>> training_curves({"m": {"loss": [0.7, 0.6], "val_loss": [0.7, 0.65], "val_auroc": [0.6, 0.7]}})  # doctest: +SKIP
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i % 10}"
        epochs = np.arange(1, len(h["loss"]) + 1)
        axes[0].plot(epochs, h["loss"], color=color, lw=1, alpha=0.6)
        axes[0].plot(epochs, h["val_loss"], color=color, lw=1.6, label=name)
        axes[1].plot(epochs, h["val_auroc"], color=color, lw=1.6, label=name)
        if best_epochs and name in best_epochs:
            b = best_epochs[name]
            axes[1].plot([b], [h["val_auroc"][b - 1]], "o", color=color)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss (thin: training)")
    axes[1].set(xlabel="epoch", ylabel="validation AUROC", title="val. AUROC (dot: kept)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig = axes[1].figure
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.1 if len(labels) <= 4 else 0.17, 1, 1))
    return axes


def gradcam_overlay(images: ArrayLike, heatmaps: ArrayLike, titles: Sequence[str] | None = None,
                    axes: Any = None, alpha: float = 0.45) -> Any:
    """Images in gray with their Grad-CAM (or occlusion) heatmaps on top, one column per image.

    Examples
    --------
    >>> gradcam_overlay(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 8)))  # doctest: +SKIP
    """
    imgs = np.asarray(images)
    maps = np.asarray(heatmaps)
    if imgs.ndim == 4:
        imgs = imgs[..., 0]
    if imgs.shape != maps.shape:
        raise ValueError(f"images {imgs.shape} and heatmaps {maps.shape} must have the same (N, H, W) shape.")
    n = len(imgs)
    if axes is None:
        width = min(PAGE_WIDTH, 1.7 * n)
        _, axes = plt.subplots(1, n, figsize=(width, width / n + 0.45))
    axes = np.atleast_1d(axes)
    for i in range(n):
        axes[i].imshow(imgs[i], cmap="gray")
        axes[i].imshow(maps[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        axes[i].set_axis_off()
        if titles is not None:
            axes[i].set_title(titles[i], fontsize=MIN_FONT_PT)
    return axes
