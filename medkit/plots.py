"""Plotting helpers shared by the chapters (matplotlib; seaborn for heatmaps).

Each function draws on a given ``ax`` (or a new figure) and returns the axes,
so a chapter can place several plots side by side. :func:`use_page_style`,
called once in each chapter's imports cell, sizes every figure for the
book's text column: at most :data:`PAGE_WIDTH` inches wide at 100 dpi (a
cell's output area is about 610 CSS pixels), drawn as PNG at twice that resolution, with
no text smaller than :data:`MIN_FONT_PT` points.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike

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
