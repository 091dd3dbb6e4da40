"""Compile librosa's numba kernels once, so the first notebook does not pay ~20 s."""
from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def main(args: argparse.Namespace) -> int:
    del args
    start = time.perf_counter()
    import numpy as np
    import librosa

    sr = 8000
    tone = np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    librosa.feature.mfcc(y=tone, sr=sr, n_mfcc=13)
    librosa.feature.melspectrogram(y=tone, sr=sr)
    librosa.resample(tone, orig_sr=sr, target_sr=16000)
    print(f"librosa {librosa.__version__} ready in {time.perf_counter() - start:.1f} s")
    return 0
