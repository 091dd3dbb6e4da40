"""Featurising the bundled cohort: cold, from the cache, and the source article's per-sample loop.

Also prints the honesty figures of the cohort: size on disk, AUROC of simple
per-modality models and their late fusion, and AUROC of one-number shortcuts.

Run: ``.venv/bin/python benchmarks/bench_features.py [--data-dir data_samples]``
(a script that prints figures, not a timed test).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from medkit import data


def article_loop(data_dir: Path) -> int:
    """What the source article does: read, load and tokenise each patient one by one, no cache.

    pandas manifests, ``cv2.imread`` + resize per image, ``librosa.load`` at its
    default rate (22,050 Hz: every 8 kHz file resampled) + MFCC per recording,
    a fresh tokenisation and vocabulary lookup per note.
    """
    import cv2
    import librosa
    import pandas as pd
    from nltk.tokenize import wordpunct_tokenize

    images = pd.read_csv(data_dir / "images.csv")
    texts = pd.read_csv(data_dir / "texts.csv")
    audios = pd.read_csv(data_dir / "audios.csv")
    merged = images.merge(texts, on="patient_id").merge(audios, on="patient_id", suffixes=("_img", "_snd"))
    vocabulary: dict[str, int] = {}
    for _, row in merged.iterrows():
        image = cv2.imread(str(data_dir / row["path_img"]), cv2.IMREAD_GRAYSCALE)
        image = cv2.resize(image, (64, 64)).astype(np.float32) / 255.0
        y, sr = librosa.load(str(data_dir / row["path_snd"]))
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
        tokens = [vocabulary.setdefault(t, len(vocabulary) + 2) for t in wordpunct_tokenize(row["content"].lower())]
        del image, tokens
    return len(merged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=data.DEFAULT_DATA_DIR)
    args = parser.parse_args()

    data.load_audio(next(iter(sorted((args.data_dir / "snd").glob("*.wav")))))  # warm librosa/numba first
    size = sum(p.stat().st_size for p in args.data_dir.rglob("*") if p.is_file())
    start = time.perf_counter()
    cohort = data.load_cohort(args.data_dir)
    validate_s = time.perf_counter() - start
    n = len(cohort)
    print(f"cohort: {n} patients, {size / 1e6:.1f} MB on disk ({size / 2**20:.1f} MiB); "
          f"load + validate {validate_s:.2f} s")

    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        features = data.featurize(cohort, cache_dir=cache_dir)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        cached = data.featurize(cohort, cache_dir=cache_dir)
        warm = time.perf_counter() - start
        assert cached.from_cache
    start = time.perf_counter()
    article_n = article_loop(args.data_dir)
    article = time.perf_counter() - start
    print(f"featurize cold      : {n / cold:8.1f} samples/s ({cold:.2f} s)")
    print(f"featurize from cache: {n / warm:8.1f} samples/s ({warm:.3f} s, includes hashing every file)")
    print(f"article's loop      : {article_n / article:8.1f} samples/s ({article:.2f} s)")
    print(f"cache vs article loop: {article / warm:.0f}x; cold vs article loop: {article / cold:.1f}x")
    print(f"shapes: image {features.image.shape}, text {features.text.shape}, audio {features.audio.shape}")

    print("\ntest AUROC of simple per-modality logistic regressions (fit on train+val):")
    for name, value in data.baseline_aurocs(features).items():
        print(f"  {name:6s} {value:.3f}")
    print("AUROC (best direction) of one-number shortcuts, whole cohort:")
    for name, value in data.scalar_shortcuts(cohort).items():
        print(f"  {name:22s} {value:.3f}")


if __name__ == "__main__":
    main()
