"""Plotting helpers shared by the chapters (matplotlib; seaborn for heatmaps).

Each function draws on a given ``ax`` (or a new figure) and returns the axes,
so a chapter can place several plots side by side.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike


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
        _, ax = plt.subplots(figsize=(6, 4.5))
    t0 = np.linspace(*theta0_range, n_grid)
    t1 = np.linspace(*theta1_range, n_grid)
    zz = np.array([[loss_fn(np.array([a, b])) for a in t0] for b in t1])
    # Log-spaced levels show the narrow valley and the far-away walls at once.
    lv = np.geomspace(max(zz.min(), 1e-12) * 1.001, zz.max(), levels)
    cs = ax.contour(t0, t1, zz, levels=lv, cmap="viridis", linewidths=0.8)
    ax.clabel(cs, cs.levels[::6], fmt="%.2g", fontsize=7)
    for name, path in (trajectories or {}).items():
        p = np.asarray(path, dtype=float)
        ax.plot(p[:, 0], p[:, 1], ".-", ms=3, lw=1, label=name)
    ax.set_xlabel(r"$\theta_0$ (intercept)")
    ax.set_ylabel(r"$\theta_1$ (slope)")
    if trajectories:
        ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------- chapter 3: fusion
def fusion_diagram(ax: Any = None) -> Any:
    """Early, intermediate and late fusion as three block diagrams, drawn with matplotlib only."""
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    ax.set_xlim(0, 30)
    ax.set_ylim(1.8, 10)
    ax.axis("off")
    colors = {"image": "#8fb8de", "text": "#f4b183", "audio": "#a9d18e", "fuse": "#ffd966", "net": "#d9d9d9"}

    def box(x: float, y: float, text: str, color: str, w: float = 2.6, h: float = 1.0) -> None:
        ax.add_patch(plt.Rectangle((x, y), w, h, facecolor=color, edgecolor="black", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", lw=0.8))

    inputs = [("image", 7.5), ("text", 5.0), ("audio", 2.5)]
    titles = ["Early fusion\n(combine raw inputs / features)", "Intermediate fusion\n(combine learned embeddings)",
              "Late fusion\n(combine decisions)"]
    for k, title in enumerate(titles):
        x = 10 * k
        ax.text(x + 5, 9.6, title, ha="center", va="top", fontsize=9, fontweight="bold")
        for name, y in inputs:
            box(x + 0.2, y, name, colors[name], w=2.0)
        if k == 0:
            box(x + 3.4, 4.6, "concat", colors["fuse"], w=2.0, h=1.8)
            for _, y in inputs:
                arrow(x + 2.2, y + 0.5, x + 3.4, 5.5)
            box(x + 6.2, 5.0, "one model", colors["net"], w=2.2)
            arrow(x + 5.4, 5.5, x + 6.2, 5.5)
            ax.text(x + 7.3, 4.3, "→ prediction", ha="center", fontsize=8)
        elif k == 1:
            for name, y in inputs:
                box(x + 2.7, y, f"{name}\nencoder", colors["net"], w=2.0)
                arrow(x + 2.2, y + 0.5, x + 2.7, y + 0.5)
                arrow(x + 4.7, y + 0.5, x + 5.4, 5.5)
            box(x + 5.4, 4.6, "fuse\n(concat/\ngated)", colors["fuse"], w=1.8, h=1.8)
            box(x + 7.6, 5.0, "head", colors["net"], w=1.6)
            arrow(x + 7.2, 5.5, x + 7.6, 5.5)
            ax.text(x + 8.4, 4.3, "→ prediction", ha="center", fontsize=8)
        else:
            for name, y in inputs:
                box(x + 2.7, y, f"{name}\nmodel → p", colors["net"], w=2.3)
                arrow(x + 2.2, y + 0.5, x + 2.7, y + 0.5)
                arrow(x + 5.0, y + 0.5, x + 5.8, 5.5)
            box(x + 5.8, 4.6, "average /\nvote", colors["fuse"], w=2.0, h=1.8)
            ax.text(x + 6.8, 4.0, "→ prediction", ha="center", fontsize=8)
    return ax


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
        _, ax = plt.subplots(figsize=(4.2, 3.6))
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
    """ROC (with AUROC) and precision-recall (with AUPRC and the prevalence line) for several scorers."""
    from medkit import metrics

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4))
    y = np.asarray(y_true)
    for name, s in scores.items():
        fpr, tpr, _ = metrics.roc_curve(y, s)
        axes[0].plot(fpr, tpr, label=f"{name} (AUROC {metrics.roc_auc(y, s):.3f})")
        p, r, _ = metrics.precision_recall_curve(y, s)
        axes[1].step(r, p, where="post", label=f"{name} (AUPRC {metrics.average_precision(y, s):.3f})")
    axes[0].plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    axes[0].set(xlabel="1 − specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)", title="ROC")
    prevalence = float(np.mean(y))
    axes[1].axhline(prevalence, color="k", ls=":", lw=0.8, label=f"chance = prevalence ({prevalence:.2f})")
    axes[1].set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall", ylim=(0, 1.03))
    for ax in axes:
        ax.legend(fontsize=8, loc="lower left" if ax is axes[1] else "lower right")
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
    fig, axes = plt.subplots(2, n_per_class, figsize=(1.9 * n_per_class, 4.1), squeeze=False)
    for row, value in enumerate((0, 1)):
        chosen = np.flatnonzero(labels == value)[:n_per_class]
        for col in range(n_per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(chosen):
                i = chosen[col]
                ax.imshow(np.squeeze(images[i]), cmap="gray", vmin=0, vmax=1)
                ax.set_title(titles[i] if titles is not None else f"label {value}", fontsize=8)
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
    escaped = re.sub(_FINDING_WORDS, r'<span style="color:#1f5fa8;text-decoration:underline">\1</span>', escaped, flags=re.I)
    return f'<p style="font-family:sans-serif;line-height:1.5">{escaped}</p>'


def audio_panels(recordings: Mapping[str, np.ndarray], sr: int, hop_length: int = 256, n_fft: int = 512) -> Any:
    """For each recording (title -> samples): waveform, log-mel spectrogram and MFCCs, one column each.

    Examples
    --------
    >>> axes = audio_panels({"noise": np.random.default_rng(0).normal(size=8000)}, sr=8000)  # doctest: +SKIP
    """
    import librosa
    import librosa.display

    fig, axes = plt.subplots(3, len(recordings), figsize=(5.2 * len(recordings), 7.5), squeeze=False)
    for col, (title, y) in enumerate(recordings.items()):
        librosa.display.waveshow(y, sr=sr, ax=axes[0, col], color="#1f5fa8")
        axes[0, col].set(title=title, xlabel="time (s)", ylabel="amplitude")
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=40)
        image = librosa.display.specshow(librosa.power_to_db(mel, ref=np.max), sr=sr, hop_length=hop_length,
                                         x_axis="time", y_axis="mel", ax=axes[1, col], cmap="magma")
        axes[1, col].set(title="log-mel spectrogram (dB)")
        fig.colorbar(image, ax=axes[1, col], format="%+.0f")
        coeffs = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_fft=n_fft, hop_length=hop_length, n_mels=40)
        image = librosa.display.specshow(coeffs, sr=sr, hop_length=hop_length, x_axis="time", ax=axes[2, col], cmap="coolwarm")
        axes[2, col].set(title="MFCC", ylabel="coefficient")
        fig.colorbar(image, ax=axes[2, col])
    fig.tight_layout()
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

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    y = np.asarray(y_true)
    for name, p in probabilities.items():
        fpr, tpr, _ = metrics.roc_curve(y, p)
        unimodal = name in ("image", "text", "audio")
        ax.plot(fpr, tpr, lw=3 if name == highlight else 1.4, ls="--" if unimodal else "-",
                label=f"{name} ({metrics.roc_auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower right", title="model (AUROC)", title_fontsize=8)
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
        _, ax = plt.subplots(figsize=(5.5, 5))
    y = np.asarray(y_true, dtype=float)
    for name, p in probabilities.items():
        p = np.asarray(p, dtype=float)
        order = np.argsort(p, kind="stable")
        bins = [b for b in np.array_split(order, n_bins) if b.size]
        ax.plot([p[b].mean() for b in bins], [y[b].mean() for b in bins], "o-",
                label=f"{name} (Brier {metrics.brier_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfect calibration")
    ax.set(xlabel="mean predicted probability", ylabel="observed fraction positive", xlim=(0, 1), ylim=(0, 1),
           title="Reliability diagram, test split")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], best_epochs: Mapping[str, int] | None = None,
                    axes: Any = None) -> Any:
    """Training and validation loss, and validation AUROC, per epoch for several models.

    ``histories`` maps a model name to a Keras history dict (``loss``,
    ``val_loss``, ``val_auroc``); ``best_epochs`` (1-based) marks the epoch
    early stopping kept.

    Examples
    --------
    >>> training_curves({"m": {"loss": [0.7, 0.6], "val_loss": [0.7, 0.65], "val_auroc": [0.6, 0.7]}})  # doctest: +SKIP
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i % 10}"
        epochs = np.arange(1, len(h["loss"]) + 1)
        axes[0].plot(epochs, h["loss"], color=color, lw=1, alpha=0.6)
        axes[0].plot(epochs, h["val_loss"], color=color, lw=1.6, label=name)
        axes[1].plot(epochs, h["val_auroc"], color=color, lw=1.6, label=name)
        if best_epochs and name in best_epochs:
            b = best_epochs[name]
            axes[1].plot([b], [h["val_auroc"][b - 1]], "o", color=color)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss (thin: training, thick: validation)")
    axes[1].set(xlabel="epoch", ylabel="validation AUROC", title="validation AUROC (dot: weights kept)")
    axes[1].legend(fontsize=7, ncol=2, loc="lower right")
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
        _, axes = plt.subplots(1, n, figsize=(2.3 * n, 2.6))
    axes = np.atleast_1d(axes)
    for i in range(n):
        axes[i].imshow(imgs[i], cmap="gray")
        axes[i].imshow(maps[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        axes[i].set_axis_off()
        if titles is not None:
            axes[i].set_title(titles[i], fontsize=8)
    return axes
