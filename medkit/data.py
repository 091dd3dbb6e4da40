"""Load, validate and featurise a multimodal cohort (image + clinical note + lung sound per patient).

The API in one screen
---------------------
``load_cohort(data_dir, on_error="raise") -> Cohort``
    Reads ``images.csv`` (patient_id, path[, split]), ``texts.csv`` (patient_id,
    content, label, split) and ``audios.csv`` (patient_id, path[, split, ...]),
    checks every row and file, and returns the patients aligned by ``patient_id``
    (sorted): ``ids``, ``labels`` (int 0/1), ``splits`` ("train"/"val"/"test"),
    ``image_paths``, ``audio_paths`` (absolute), ``texts``, ``data_dir`` and
    ``dropped``. All problems are collected in one pass, then a
    :class:`CohortError` lists them; ``on_error="skip"`` drops the patients
    concerned instead and lists them in ``cohort.dropped`` as
    ``(manifest, row, patient_id, reason)`` tuples (``row`` counts data rows from 1).
``load_image(path, size=64) -> float32 (size, size) in [0, 1]``
    PNG/JPEG through OpenCV (colour becomes gray), DICOM through pydicom
    (rescale slope/intercept, VOI LUT or window, MONOCHROME1 inverted).
``load_audio(path, sr=8000, duration=3.0) -> float32 (sr * duration,)``; ``mfcc(y, sr)``; ``log_mel(y, sr)``
``tokenize(text)``, ``build_vocabulary(texts)``, ``encode_texts(texts, vocabulary, length)``
    nltk ``RegexpTokenizer`` (needs no downloaded data); index 0 pads, 1 is out-of-vocabulary.
``wordpiece_vocabulary(texts, size)``, ``wordpiece_tokenizer(vocabulary, length)``
    the keras-hub path for a Transformer text branch (vocabulary computed offline).
``featurize(cohort, image_size=64, text_len=64, n_mfcc=20, ...) -> Features``
    ``image (N, S, S, 1) float32``, ``text (N, L) int32``, ``audio (N, n_mfcc, T, 1) float32``
    (``T = 1 + sr * duration // hop_length``: 94 with the defaults), ``label (N,) int32``;
    the vocabulary is built on the train split only. Cached on disk under
    ``.medkit_cache/`` (or ``$MEDKIT_CACHE`` or ``cache_dir=``), keyed by a hash of
    the files' contents and the parameters.
``features.split("train") -> dict`` of numpy arrays (``image``, ``text``, ``audio``, ``label``, ``patient_id``).
``make_dataset(features, split, batch_size=32, shuffle=None, seed=0) -> tf.data.Dataset``
    elements ``({"image": ..., "text": ..., "audio": ...}, label)`` with a float32
    label of shape ``(batch,)``: pass it straight to ``keras.Model.fit`` of a
    model whose inputs are named ``image``, ``text`` and ``audio``.
``scalar_shortcuts(cohort)``, ``baseline_aurocs(features)``
    honesty checks: AUROC of one-number shortcuts and of simple per-modality models.

Examples
--------
>>> from medkit import data
>>> cohort = data.load_cohort("data_samples")          # doctest: +SKIP
>>> features = data.featurize(cohort)                  # doctest: +SKIP
>>> train = data.make_dataset(features, "train")       # doctest: +SKIP
>>> model.fit(train, validation_data=data.make_dataset(features, "val"))  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from medkit import REPO_ROOT
from medkit.validation import check_choice, check_keys, check_positive_int, check_same_length, label_array

DEFAULT_DATA_DIR = REPO_ROOT / "data_samples"
#: The three modalities of a patient, in the kit's canonical order (models, deploy and synth import this).
MODALITIES: tuple[str, ...] = ("image", "text", "audio")
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFESTS = {
    "images.csv": ("patient_id", "path"),
    "texts.csv": ("patient_id", "content", "label", "split"),
    "audios.csv": ("patient_id", "path"),
}
PAD, OOV = 0, 1
_CACHE_VERSION = 1


# ================================================================== cohort and validation
class Problem(NamedTuple):
    """One thing wrong with a cohort: where it is and what is wrong.

    Taught in chapter 5, section *The cohort and its manifests* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    manifest : str
        The manifest file (``"texts.csv"``), or ``"(all)"``.
    row : int or None
        Data row, counting from 1 (the header is row 0); ``None`` for a whole-manifest problem.
    patient_id : str or None
        The patient concerned, if known.
    reason : str
        What is wrong.

    Examples
    --------
    >>> print(Problem("texts.csv", 3, "P0003", "empty note (content)"))
    texts.csv row 3 (patient_id 'P0003'): empty note (content)
    """

    manifest: str
    row: int | None  # data row, counting from 1 (the header is row 0); None for a whole-manifest problem
    patient_id: str | None
    reason: str

    def __str__(self) -> str:
        where = self.manifest if self.row is None else f"{self.manifest} row {self.row}"
        who = f" (patient_id {self.patient_id!r})" if self.patient_id else ""
        return f"{where}{who}: {self.reason}"


class CohortError(ValueError):
    """Raised by :func:`load_cohort` with every problem found; ``.problems`` holds them.

    Taught in chapter 5, section *The cohort and its manifests* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    data_dir : Path
        The cohort's directory (named in the message).
    problems : list of Problem
        Everything that is wrong, one line each in the message.

    Examples
    --------
    >>> error = CohortError(Path("site"), [Problem("images.csv", 2, "P0002", "file 'img/x.png' does not exist")])
    >>> print(error)
    1 problem(s) in the cohort at site:
      - images.csv row 2 (patient_id 'P0002'): file 'img/x.png' does not exist
    """

    def __init__(self, data_dir: Path, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the cohort at {data_dir}:\n{lines}")


@dataclass
class Cohort:
    """Validated patients aligned by ``patient_id`` (one entry per patient in every field).

    Built by :func:`load_cohort`.

    Taught in chapter 5, section *The cohort and its manifests* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    data_dir : Path
        Where the manifests are.
    ids, labels, splits : ndarray
        Patient ids (sorted), 0/1 labels and ``"train"``/``"val"``/``"test"``.
    image_paths, audio_paths : list of Path
        Absolute paths of each patient's files.
    texts : list of str
        Each patient's clinical note.
    dropped : list of Problem
        What ``on_error="skip"`` left out, and why.

    Examples
    --------
    >>> cohort = load_cohort()
    >>> len(cohort), str(cohort.ids[0]), int(cohort.labels.sum())
    (400, 'P0001', 158)
    """

    data_dir: Path
    ids: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    image_paths: list[Path]
    audio_paths: list[Path]
    texts: list[str]
    dropped: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, split: str) -> np.ndarray:
        """Positions of the patients in ``split`` ("train", "val" or "test").

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"`` or ``"test"``.

        Returns
        -------
        ndarray of int64
            Positions into the cohort's arrays, ascending.

        Examples
        --------
        >>> load_cohort().indices("val")[:3].tolist()
        [4, 5, 14]
        """
        check_choice(split, SPLITS, "split")
        return np.flatnonzero(self.splits == split)

    def summary(self) -> dict[str, Any]:
        """Counts per split and class, as plain Python numbers (ready to glue).

        Returns
        -------
        dict of str to int
            ``n_patients``, ``n_positive``, ``n_dropped`` and ``n_<split>``, ``n_<split>_positive``.

        Examples
        --------
        >>> summary = load_cohort().summary()
        >>> summary["n_train"], summary["n_val"], summary["n_test"]
        (240, 80, 80)
        """
        out: dict[str, Any] = {"n_patients": int(len(self)), "n_positive": int(self.labels.sum()),
                               "n_dropped": len(self.dropped)}
        for split in SPLITS:
            mask = self.splits == split
            out[f"n_{split}"] = int(mask.sum())
            out[f"n_{split}_positive"] = int(self.labels[mask].sum())
        return out


def _read_manifest(path: Path, required: Sequence[str], problems: list[Problem]) -> list[dict[str, str]] | None:
    name = path.name
    if not path.is_file():
        problems.append(Problem(name, None, None, f"manifest file {path} is missing"))
        return None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.append(Problem(name, None, None, f"cannot be read as UTF-8 CSV: {exc}"))
        return None
    missing = [c for c in required if c not in columns]
    if missing:
        problems.append(Problem(name, None, None, f"missing column(s) {missing}; found {columns}"))
        return None
    return rows


def _resolve_inside(data_dir: Path, relative: str) -> tuple[Path | None, str | None]:
    """The file a manifest path points to, or why it is not acceptable."""
    if not relative.strip():
        return None, "empty path"
    candidate = (data_dir / relative).resolve()
    if not candidate.is_relative_to(data_dir.resolve()):
        return None, f"path {relative!r} escapes the data directory {data_dir}"
    if not candidate.is_file():
        return None, f"file {relative!r} does not exist"
    return candidate, None


def _image_problem(path: Path) -> str | None:
    try:
        load_image(path, size=8)
    except (ValueError, OSError) as exc:
        return str(exc)
    return None


def _audio_problem(path: Path) -> str | None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, ValueError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        return f"audio file {path.name!r} is unreadable: {exc}"
    if info.frames == 0:
        return f"audio file {path.name!r} is empty (0 samples)"
    return None


def load_cohort(data_dir: str | Path = DEFAULT_DATA_DIR, on_error: str = "raise", check_files: bool = True) -> Cohort:
    """Read and validate the three manifests under ``data_dir``; return the aligned cohort.

    Taught in chapter 5, section *The cohort and its manifests* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    data_dir
        Directory holding ``images.csv``, ``texts.csv``, ``audios.csv`` and the files they list
        (paths relative to ``data_dir``; a path leading outside it is refused).
    on_error
        ``"raise"``: collect every problem, then raise :class:`CohortError` listing them.
        ``"skip"``: drop every patient with a problem and list them in ``cohort.dropped``.
    check_files
        Open every image and audio file (about 0.3 s for 400 patients). Turn off only for speed
        on a cohort validated before.

    Returns
    -------
    Cohort
        The valid patients, sorted by ``patient_id``.

    Examples
    --------
    >>> cohort = load_cohort(DEFAULT_DATA_DIR)
    >>> len(cohort), sorted(str(s) for s in set(cohort.splits))
    (400, ['test', 'train', 'val'])
    """
    check_choice(on_error, ("raise", "skip"), "on_error")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data_dir {data_dir} is not a directory")
    problems: list[Problem] = []
    manifests = {name: _read_manifest(data_dir / name, cols, problems) for name, cols in MANIFESTS.items()}
    if any(rows is None for rows in manifests.values()):
        raise CohortError(data_dir, problems)  # a missing manifest or column: nothing to align

    bad_ids: set[str] = set()
    records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in manifests}

    def flag(manifest: str, row: int | None, pid: str | None, reason: str) -> None:
        problems.append(Problem(manifest, row, pid, reason))
        if pid:
            bad_ids.add(pid)

    for name, rows in manifests.items():
        for row_number, row in enumerate(rows, start=1):
            pid = (row.get("patient_id") or "").strip()
            if not pid:
                flag(name, row_number, None, "empty patient_id")
                continue
            if pid in records[name]:
                flag(name, row_number, pid, f"duplicate patient_id (first seen in row {records[name][pid]['row']})")
                continue
            record: dict[str, Any] = {"row": row_number}
            split = (row.get("split") or "").strip()
            if "split" in row and split not in SPLITS:
                flag(name, row_number, pid, f"unknown split {split!r}; expected one of {list(SPLITS)}")
            record["split"] = split or None
            if name == "texts.csv":
                content = row.get("content") or ""
                if not content.strip():
                    flag(name, row_number, pid, "empty note (content)")
                label = (row.get("label") or "").strip()
                if label not in ("0", "1"):
                    flag(name, row_number, pid, f"label must be 0 or 1, got {label!r}")
                record.update(content=content, label=int(label) if label in ("0", "1") else None)
            else:
                path, reason = _resolve_inside(data_dir, row.get("path") or "")
                if reason is None and check_files:
                    assert path is not None
                    reason = _image_problem(path) if name == "images.csv" else _audio_problem(path)
                if reason:
                    flag(name, row_number, pid, reason)
                record["path"] = path
            records[name][pid] = record

    # Cross-manifest checks: every patient in all three, with one split.
    all_ids = set().union(*(set(r) for r in records.values()))
    for pid in sorted(all_ids):
        present = [name for name in records if pid in records[name]]
        for name in records:
            if pid not in records[name]:
                others = ", ".join(present)
                flag(name, None, pid, f"patient_id listed in {others} but missing here")
        if "texts.csv" in present:
            text_split = records["texts.csv"][pid]["split"]
            for name in present:
                other = records[name][pid]["split"]
                if other in SPLITS and text_split in SPLITS and other != text_split:
                    flag(name, records[name][pid]["row"], pid,
                         f"split {other!r} disagrees with texts.csv ({text_split!r})")

    if problems and on_error == "raise":
        raise CohortError(data_dir, problems)
    keep = sorted(all_ids - bad_ids)
    if not keep:
        raise CohortError(data_dir, problems + [Problem("(all)", None, None, "no valid patient left")])
    text, image, audio = records["texts.csv"], records["images.csv"], records["audios.csv"]
    return Cohort(
        data_dir=data_dir,
        ids=np.array(keep),
        labels=np.array([text[p]["label"] for p in keep], dtype=np.int64),
        splits=np.array([text[p]["split"] for p in keep]),
        image_paths=[image[p]["path"] for p in keep],
        audio_paths=[audio[p]["path"] for p in keep],
        texts=[text[p]["content"] for p in keep],
        dropped=problems,
    )


# ================================================================== images
def _dicom_to_unit(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(str(path))
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises InvalidDicomError, AttributeError, ValueError...
        raise ValueError(f"DICOM file {path.name!r} is unreadable: {exc}") from exc
    if pixels.ndim != 2:
        raise ValueError(f"DICOM file {path.name!r} holds an array of shape {pixels.shape}; expected one 2-D frame")
    values = apply_modality_lut(pixels, ds).astype(np.float64)  # slope/intercept -> e.g. Hounsfield units
    has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
    if has_voi:
        values = apply_voi_lut(values, ds, index=0).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    unit = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1: low values are bright
    return unit


def load_image(path: str | Path, size: int = 64) -> np.ndarray:
    """Read one image as float32 ``(size, size)`` in [0, 1], whatever its format, size and colour.

    PNG/JPEG/BMP/TIFF go through OpenCV (colour converted to gray; 8- and 16-bit
    scaled by their maximum); ``.dcm`` files through pydicom (rescale slope and
    intercept, VOI LUT or window, MONOCHROME1 inverted, then min-max to [0, 1]).
    Resizing uses area interpolation, which averages instead of aliasing.

    Taught in chapter 5, section *Images* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    path : str or Path
        The image file.
    size : int
        Width and height of the result.

    Returns
    -------
    ndarray of float32, shape (size, size)
        Gray levels in [0, 1].

    Examples
    --------
    >>> img = load_image(DEFAULT_DATA_DIR / "img" / "P0001.png", size=64)
    >>> img.shape, img.dtype, bool(0.0 <= img.min() <= img.max() <= 1.0)
    ((64, 64), dtype('float32'), True)
    """
    import cv2

    path = Path(path)
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    if path.suffix.lower() in (".dcm", ".dicom"):
        unit = _dicom_to_unit(path)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
        if raw is None:
            raise ValueError(f"image file {path.name!r} is corrupt or not an image OpenCV can read")
        scale = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
        unit = raw.astype(np.float64) / scale
    resized = cv2.resize(unit.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


# ================================================================== audio
def load_audio(path: str | Path, sr: int = 8000, duration: float = 3.0) -> np.ndarray:
    """Read one recording as mono float32 at ``sr`` Hz, zero-padded or trimmed to ``duration`` s.

    The sample rate is always explicit: ``librosa.load`` would otherwise resample
    everything to 22,050 Hz without a word.

    Taught in chapter 5, section *Lung sounds* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    path : str or Path
        The recording (WAV, FLAC, ...).
    sr : int
        Sample rate of the result, Hz (the file is resampled to it).
    duration : float
        Length of the result, seconds.

    Returns
    -------
    ndarray of float32, shape (round(sr * duration),)
        Mono samples, zero-padded or trimmed.

    Examples
    --------
    >>> y = load_audio(DEFAULT_DATA_DIR / "snd" / "P0001.wav", sr=8000, duration=3.0)
    >>> y.shape, y.dtype
    ((24000,), dtype('float32'))
    """
    import librosa

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {path} does not exist")
    try:
        y, _ = librosa.load(str(path), sr=sr, mono=True)
    except Exception as exc:
        raise ValueError(f"audio file {path.name!r} is unreadable: {exc}") from exc
    if y.size == 0:
        raise ValueError(f"audio file {path.name!r} is empty (0 samples)")
    return librosa.util.fix_length(y, size=int(round(sr * duration))).astype(np.float32)


def mfcc(y: np.ndarray, sr: int = 8000, n_mfcc: int = 20, n_fft: int = 512, hop_length: int = 256) -> np.ndarray:
    """MFCCs ``(n_mfcc, 1 + len(y) // hop_length)`` float32 (40 mel bands, 64 ms windows at 8 kHz).

    Taught in chapter 5, section *Lung sounds* (``notebooks/05_modalities.ipynb``): the audio branch's input.

    Parameters
    ----------
    y, sr : ndarray, int
        Mono samples and their sample rate (Hz).
    n_mfcc : int
        Coefficients kept.
    n_fft, hop_length : int
        Window and hop, in samples.

    Returns
    -------
    ndarray of float32, shape (n_mfcc, 1 + len(y) // hop_length)
        One row per cepstral coefficient, one column per frame.

    Examples
    --------
    >>> mfcc(np.zeros(24000, dtype=np.float32), sr=8000).shape
    (20, 94)
    """
    import librosa

    return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length,
                                n_mels=40).astype(np.float32)


def log_mel(y: np.ndarray, sr: int = 8000, n_mels: int = 40, n_fft: int = 512, hop_length: int = 256) -> np.ndarray:
    """Log-mel spectrogram in dB ``(n_mels, 1 + len(y) // hop_length)`` float32, 0 dB at the loudest bin.

    Taught in chapter 5, section *Lung sounds* (``notebooks/05_modalities.ipynb``), where it is plotted.

    Parameters
    ----------
    y : ndarray
        A mono recording.
    sr : int
        Its sample rate in Hz.
    n_mels : int
        Mel bands.
    n_fft, hop_length : int
        Window and hop, in samples.

    Returns
    -------
    ndarray of float32, shape (n_mels, 1 + len(y) // hop_length)
        One row per mel band, one column per frame (dB, at most 0).

    Examples
    --------
    >>> log_mel(np.ones(8000, dtype=np.float32), sr=8000).shape
    (40, 32)
    """
    import librosa

    power = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length)
    return librosa.power_to_db(power, ref=np.max).astype(np.float32)


# ================================================================== text
_TOKEN_PATTERN = r"[a-z]+|\d+(?:\.\d+)?|%"


def tokenize(text: str) -> list[str]:
    """Lower-cased word, number and ``%`` tokens via nltk's ``RegexpTokenizer`` (no downloaded data).

    ``nltk.word_tokenize`` would need the punkt_tab data, which cannot be fetched offline.

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    text : str
        A clinical note.

    Returns
    -------
    list of str
        The note's tokens, in order.

    Examples
    --------
    >>> tokenize("T 38.2 C, SpO2 91% on air. No crackles.")
    ['t', '38.2', 'c', 'spo', '2', '91', '%', 'on', 'air', 'no', 'crackles']
    """
    return _regexp_tokenizer().tokenize(text.lower())


@lru_cache(maxsize=1)
def _regexp_tokenizer() -> Any:
    from nltk.tokenize import RegexpTokenizer

    return RegexpTokenizer(_TOKEN_PATTERN)


def build_vocabulary(texts: Sequence[str], min_count: int = 1, max_size: int | None = None) -> dict[str, int]:
    """Token -> index, most frequent first, starting at 2 (0 pads, 1 is out-of-vocabulary).

    Build it on the training split only: words seen only in validation or test
    must map to OOV, as they would for a new patient.

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    texts : sequence of str
        The training notes.
    min_count : int
        Keep tokens seen at least this often.
    max_size : int, optional
        Largest index + 1 (padding and OOV included).

    Returns
    -------
    dict of str to int
        Token to index, ``2 ..`` in order of frequency.

    Examples
    --------
    >>> build_vocabulary(["no fever", "fever and cough"])
    {'fever': 2, 'and': 3, 'cough': 4, 'no': 5}
    """
    from collections import Counter

    counts = Counter(token for text in texts for token in tokenize(text))
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max(0, max_size - 2)]
    return {token: i + 2 for i, token in enumerate(ranked)}


def encode_texts(texts: Sequence[str], vocabulary: dict[str, int], length: int = 64) -> np.ndarray:
    """Integer sequences ``(len(texts), length)`` int32: truncated at the end, padded with 0 at the end.

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    texts : sequence of str
        Notes.
    vocabulary : dict of str to int
        From :func:`build_vocabulary`; unknown tokens become ``OOV`` (1).
    length : int
        Tokens per note.

    Returns
    -------
    ndarray of int32, shape (len(texts), length)
        Token ids, 0 for padding and 1 for unknown words.

    Examples
    --------
    >>> encode_texts(["no fever today"], {"fever": 2, "no": 3}, length=5)
    array([[3, 2, 1, 0, 0]], dtype=int32)
    """
    out = np.full((len(texts), length), PAD, dtype=np.int32)
    for i, text in enumerate(texts):
        ids = [vocabulary.get(token, OOV) for token in tokenize(text)][:length]
        out[i, : len(ids)] = ids
    return out


def wordpiece_vocabulary(texts: Sequence[str], size: int = 600) -> list[str]:
    """A WordPiece vocabulary learnt offline from ``texts`` with keras-hub (reserved: [PAD], [UNK]).

    ``compute_word_piece_vocabulary`` takes a plain list as a list of *file names*:
    the sentences go in as a ``tf.data.Dataset``.

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    texts : sequence of str
        The training notes.
    size : int
        Vocabulary size, reserved tokens included.

    Returns
    -------
    list of str
        ``[PAD]``, ``[UNK]`` and the learnt word pieces.

    Examples
    --------
    >>> vocab = wordpiece_vocabulary(["no crackles", "coarse crackles"], size=30)
    >>> vocab[:2]
    ['[PAD]', '[UNK]']
    """
    import tensorflow as tf
    import keras_hub

    dataset = tf.data.Dataset.from_tensor_slices(list(texts)).batch(64)
    return list(keras_hub.tokenizers.compute_word_piece_vocabulary(
        dataset, vocabulary_size=size, lowercase=True, reserved_tokens=["[PAD]", "[UNK]"]))


def wordpiece_tokenizer(vocabulary: list[str], length: int = 64) -> Any:
    """A keras-hub ``WordPieceTokenizer`` producing ``length`` ids per text (0 = [PAD]).

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    vocabulary : list of str
        From :func:`wordpiece_vocabulary`.
    length : int
        Ids per text (padded or truncated).

    Returns
    -------
    keras_hub.tokenizers.WordPieceTokenizer
        Maps a batch of strings to ``(batch, length)`` ids.

    Examples
    --------
    >>> tok = wordpiece_tokenizer(wordpiece_vocabulary(["no crackles"], size=20), length=8)
    >>> tuple(tok(["no crackles"]).shape)
    (1, 8)
    """
    import keras_hub

    return keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, sequence_length=length, lowercase=True,
                                                   oov_token="[UNK]")


# ================================================================== features and cache
@dataclass
class Features:
    """Per-patient model inputs, aligned with the cohort they came from.

    Built by :func:`featurize`.

    Taught in chapter 5, section *All patients at once, cached* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    image : ndarray
        ``(N, S, S, 1)`` float32 in [0, 1].
    text : ndarray
        ``(N, L)`` int32 token ids (0 pad, 1 OOV).
    audio : ndarray
        ``(N, n_mfcc, T, 1)`` float32 MFCCs.
    label : ndarray
        ``(N,)`` int32.
    ids, splits : ndarray
        Patient ids and splits.
    vocabulary : dict of str to int
        Train-split tokens, index = position + 2.
    params : dict
        What produced them.
    from_cache : bool
        Read from the disk cache.

    Examples
    --------
    >>> features = featurize(load_cohort())
    >>> features.image.shape, features.text.shape, features.audio.shape
    ((400, 64, 64, 1), (400, 64), (400, 20, 94, 1))
    """

    image: np.ndarray
    text: np.ndarray
    audio: np.ndarray
    label: np.ndarray
    ids: np.ndarray
    splits: np.ndarray
    vocabulary: dict[str, int]
    params: dict[str, Any]
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.label)

    def split(self, name: str) -> dict[str, np.ndarray]:
        """Numpy arrays of one split: ``image``, ``text``, ``audio``, ``label``, ``patient_id``.

        Parameters
        ----------
        name : str
            ``"train"``, ``"val"`` or ``"test"``.

        Returns
        -------
        dict of str to ndarray
            The split's rows of every array.

        Examples
        --------
        >>> train = featurize(load_cohort()).split("train")
        >>> train["image"].shape, sorted(train)
        ((240, 64, 64, 1), ['audio', 'image', 'label', 'patient_id', 'text'])
        """
        check_choice(name, SPLITS, "split")
        mask = self.splits == name
        return {**{m: getattr(self, m)[mask] for m in MODALITIES}, "label": self.label[mask],
                "patient_id": self.ids[mask]}


def default_cache_dir() -> Path:
    """``$MEDKIT_CACHE`` if set, else ``.medkit_cache/`` at the repository root.

    Taught in chapter 5, section *All patients at once, cached* (``notebooks/05_modalities.ipynb``).

    Returns
    -------
    Path
        Where :func:`featurize` keeps its ``.npz`` files.

    Examples
    --------
    >>> default_cache_dir().name in (".medkit_cache", Path(os.environ.get("MEDKIT_CACHE", "")).name)
    True
    """
    return Path(os.environ.get("MEDKIT_CACHE") or REPO_ROOT / ".medkit_cache")


def _add_patients(digest: Any, cohort: Cohort) -> Any:
    """Feed every patient's id, label, split, note and the SHA-256 of its two files into ``digest``."""
    for pid, label, split, text, image, audio in zip(cohort.ids, cohort.labels, cohort.splits, cohort.texts,
                                                     cohort.image_paths, cohort.audio_paths, strict=True):
        digest.update(f"{pid}\0{label}\0{split}\0{text}\0".encode())
        digest.update(hashlib.sha256(Path(image).read_bytes()).digest())
        digest.update(hashlib.sha256(Path(audio).read_bytes()).digest())
    return digest


def data_content_hash(cohort: Cohort) -> str:
    """SHA-256 over every patient's id, label, split, note and the bytes of its image and recording.

    The same files give the same hash on every machine; changing one byte of one
    file changes it. A model bundle records it (:func:`medkit.deploy.export`) to
    say which data the model was trained on.

    Taught in chapter 7, section *A bundle: everything the model needs, in one
    directory* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    cohort : Cohort
        From :func:`load_cohort`.

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> len(data_content_hash(load_cohort()))
    64
    """
    return _add_patients(hashlib.sha256(), cohort).hexdigest()


def _cache_key(cohort: Cohort, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps({"v": _CACHE_VERSION, **params}, sort_keys=True).encode())
    return _add_patients(digest, cohort).hexdigest()[:32]


def featurize(cohort: Cohort, image_size: int = 64, text_len: int = 64, n_mfcc: int = 20, sr: int = 8000,
              duration: float = 3.0, hop_length: int = 256, min_count: int = 1,
              cache_dir: str | Path | None = None, use_cache: bool = True) -> Features:
    """Turn every patient into model inputs (see :class:`Features`), cached on disk.

    The cache file is named by a hash of every file's bytes, the notes, labels,
    splits and the parameters, so changing any of them computes afresh; a
    stale entry can never be returned.

    Taught in chapter 5, section *All patients at once, cached* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    cohort : Cohort
        From :func:`load_cohort`.
    image_size : int
        Images become ``image_size x image_size`` (:func:`load_image`).
    text_len : int
        Tokens per note (:func:`encode_texts`).
    n_mfcc, sr, duration, hop_length
        Audio settings (:func:`load_audio`, :func:`mfcc`).
    min_count : int
        Of :func:`build_vocabulary` (on the train split).
    cache_dir : str or Path, optional
        Where the cache lives (default :func:`default_cache_dir`).
    use_cache : bool
        Read and write the cache.

    Returns
    -------
    Features
        Every patient's model inputs, in the cohort's order.

    Examples
    --------
    >>> features = featurize(load_cohort(), image_size=64)
    >>> features.image.shape, features.text.shape, features.audio.shape
    ((400, 64, 64, 1), (400, 64), (400, 20, 94, 1))
    """
    params = {"image_size": image_size, "text_len": text_len, "n_mfcc": n_mfcc, "sr": sr,
              "duration": duration, "hop_length": hop_length, "min_count": min_count}
    cache_path = None
    if use_cache:
        cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cache_path = cache_path / f"features-{_cache_key(cohort, params)}.npz"
        if cache_path.is_file():
            with np.load(cache_path, allow_pickle=False) as stored:
                vocab_tokens = [str(t) for t in stored["vocabulary"]]
                return Features(image=stored["image"], text=stored["text"], audio=stored["audio"],
                                label=stored["label"], ids=stored["ids"], splits=stored["splits"],
                                vocabulary={t: i + 2 for i, t in enumerate(vocab_tokens)},
                                params=params, from_cache=True)

    from threadpoolctl import threadpool_limits

    # One BLAS thread: the per-file matrices are tiny, and extra threads only contend
    # (4-5x slower MFCCs on a busy 2-core machine).
    with threadpool_limits(limits=1):
        images = np.stack([load_image(p, image_size) for p in cohort.image_paths])[..., None]
        train_texts = [t for t, s in zip(cohort.texts, cohort.splits, strict=True) if s == "train"]
        vocabulary = build_vocabulary(train_texts, min_count=min_count)
        texts = encode_texts(cohort.texts, vocabulary, text_len)
        audio = np.stack([mfcc(load_audio(p, sr, duration), sr, n_mfcc, hop_length=hop_length)
                          for p in cohort.audio_paths])[..., None]
    features = Features(image=images.astype(np.float32), text=texts, audio=audio.astype(np.float32),
                        label=cohort.labels.astype(np.int32), ids=np.asarray(cohort.ids),
                        splits=np.asarray(cohort.splits), vocabulary=vocabulary, params=params)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tokens = sorted(vocabulary, key=vocabulary.get)
        # Write to a private temporary name, then rename: readers never see half a file.
        tmp = cache_path.with_name(f"{cache_path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, image=features.image, text=features.text, audio=features.audio, label=features.label,
                 ids=features.ids.astype(str), splits=features.splits.astype(str),
                 vocabulary=np.array(tokens, dtype=str))
        os.replace(tmp, cache_path)
    return features


def make_dataset(features: Features, split: str, batch_size: int = 32, shuffle: bool | None = None,
                 seed: int = 0, inputs: Sequence[str] = MODALITIES) -> Any:
    """A ``tf.data.Dataset`` of ``({"image", "text", "audio"}, label)`` batches for one split.

    ``shuffle`` defaults to True for "train" only (reshuffled each epoch with a
    fixed ``seed``, so runs repeat). ``inputs`` picks the modalities (e.g.
    ``("image",)`` for a unimodal model). Labels are float32 ``(batch,)``.
    The pipeline itself is :func:`make_tf_dataset`'s, without the cache.

    Taught in chapter 5, section *All patients at once, cached* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    features : Features
        From :func:`featurize`.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    batch_size : int
        Patients per batch.
    shuffle : bool, optional
        Default: only the training split is shuffled.
    seed : int
        Seed of the shuffling.
    inputs : sequence of str
        The modalities to yield.

    Returns
    -------
    tf.data.Dataset
        Batches ``({modality: x}, label)`` with float32 labels.

    Examples
    --------
    >>> ds = make_dataset(featurize(load_cohort()), "val", batch_size=8)
    >>> x, y = next(iter(ds)); sorted(x), y.dtype.name, tuple(x["image"].shape)
    (['audio', 'image', 'text'], 'float32', (8, 64, 64, 1))
    """
    arrays = features.split(split)
    unknown = [name for name in inputs if name not in MODALITIES]
    if unknown or not inputs:
        raise ValueError(f"inputs must be a non-empty subset of {MODALITIES}, got {tuple(inputs)}")
    return make_tf_dataset(arrays, inputs, batch_size, shuffle=split == "train" if shuffle is None else shuffle,
                           seed=seed, cache=False)


def make_tf_dataset(data: Mapping[str, Any], modalities: Sequence[str], batch_size: int = 32,
                    shuffle: bool = False, seed: int = 0, cache: bool = True, repeat: bool = False) -> Any:
    """A ``tf.data.Dataset`` of ``({modality: x}, label)`` batches from per-patient arrays.

    Order of the steps and why: ``cache`` after building (the arrays are
    converted once), ``shuffle`` with a fixed seed (a different but
    reproducible order every epoch), ``batch``, then ``prefetch`` so the next
    batch is prepared while the model trains on this one.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``): :func:`medkit.train.fit` feeds its models with it.

    Parameters
    ----------
    data : mapping
        Arrays for one split: ``label`` and one entry per modality
        (``features.split("val")``).
    modalities : sequence of str
        Which inputs to yield (the model's).
    batch_size : int
        Global batch size (split between replicas under a mirrored strategy).
    shuffle, seed : bool, int
        Shuffle every epoch (training) with this seed.
    cache : bool
        Cache the converted tensors in memory.
    repeat : bool
        Repeat forever, one (re)shuffled pass per epoch whose order depends
        only on ``seed`` and the epoch number (what :func:`medkit.train.fit`
        uses, with ``steps_per_epoch``); the order is then identical with and
        without a distribution strategy.

    Returns
    -------
    tf.data.Dataset
        Elements ``({modality: x}, label)`` with float32 labels ``(batch,)``.

    Examples
    --------
    >>> ds = make_tf_dataset({"text": np.ones((5, 3), "int32"), "label": np.array([0, 1, 0, 1, 1])},
    ...                      ["text"], batch_size=2)
    >>> [tuple(x["text"].shape) for x, _ in ds]
    [(2, 3), (2, 3), (1, 3)]
    """
    import tensorflow as tf

    check_positive_int(batch_size, "batch_size")
    y = label_array(data, "data")
    check_keys(data, modalities, "data")
    inputs = {m: np.asarray(data[m]) for m in modalities}
    for m, x in inputs.items():
        check_same_length(x, y, f"data[{m!r}]", "data['label']")
    ds = tf.data.Dataset.from_tensor_slices((inputs, y))
    if cache:
        ds = ds.cache()
    if repeat:
        if not shuffle:
            return ds.batch(batch_size).repeat().prefetch(tf.data.AUTOTUNE)
        n = len(y)
        tensors = tf.nest.map_structure(tf.constant, (inputs, y))

        def one_epoch(epoch: Any) -> Any:
            # The order of epoch e depends on (seed, e) only, not on how many iterators Keras opens:
            # under MirroredStrategy Keras opens an extra one, which would shift a reshuffle_each_iteration
            # sequence by one epoch and make mirrored and single-device training differ.
            order = tf.random.experimental.stateless_shuffle(
                tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
            return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

        batches = tf.data.Dataset.range(2 ** 31).flat_map(one_epoch)
        gather = lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors)  # noqa: E731
        return batches.map(gather).prefetch(tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ================================================================== honesty checks
def _auroc_any_direction(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    value = float(roc_auc_score(labels, scores))
    return max(value, 1.0 - value)  # a shortcut is just as useful upside down


def scalar_shortcuts(cohort: Cohort, split: str | None = None) -> dict[str, float]:
    """AUROC (best direction) of one-number summaries that should carry no label information.

    Mean image brightness, image contrast, audio RMS energy, recording duration,
    note length (characters and tokens) and per-file sizes. Values near 0.5
    mean no shortcut; compare them with the fused model's AUROC.

    Taught in chapter 5, section *Is there a shortcut?* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    cohort : Cohort
        From :func:`load_cohort`.
    split : str, optional
        Only the patients of this split (default: all).

    Returns
    -------
    dict of str to float
        One AUROC in ``[0.5, 1]`` per summary.

    Examples
    --------
    >>> shortcuts = scalar_shortcuts(load_cohort(), split="test")
    >>> sorted(shortcuts)[:3], max(shortcuts.values()) < 0.7
    (['audio_duration_s', 'audio_file_bytes', 'audio_rms_energy'], True)
    """
    import soundfile as sf

    idx = np.arange(len(cohort)) if split is None else cohort.indices(split)
    labels = cohort.labels[idx]
    images = [load_image(cohort.image_paths[i], size=128) for i in idx]
    reads = [sf.read(str(cohort.audio_paths[i]), dtype="float32") for i in idx]
    sounds = [samples for samples, _ in reads]
    scalars = {
        "image_mean_brightness": [im.mean() for im in images],
        "image_contrast_std": [im.std() for im in images],
        "audio_rms_energy": [np.sqrt(np.mean(s ** 2)) for s in sounds],
        "audio_duration_s": [len(samples) / rate for samples, rate in reads],
        "note_length_chars": [len(cohort.texts[i]) for i in idx],
        "note_length_tokens": [len(tokenize(cohort.texts[i])) for i in idx],
        "image_file_bytes": [Path(cohort.image_paths[i]).stat().st_size for i in idx],
        "audio_file_bytes": [Path(cohort.audio_paths[i]).stat().st_size for i in idx],
    }
    return {name: _auroc_any_direction(labels, np.asarray(values, dtype=float)) for name, values in scalars.items()}


def baseline_aurocs(features: Features, fit_split: Sequence[str] = ("train", "val"),
                    eval_split: str = "test") -> dict[str, float]:
    """Test AUROC of simple per-modality logistic regressions and of their average (late fusion).

    Image: 16x16 area-downsampled pixels; text: bag of words from the token ids;
    audio: mean and std of each MFCC over time. Each model is an L2-regularised
    logistic regression on standardised features. A quick yardstick, not the kit's Keras models.

    Taught in chapter 5, section *Is there a shortcut?* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    features : Features
        From :func:`featurize`.
    fit_split : sequence of str
        Splits the regressions are fitted on.
    eval_split : str
        Split the AUROCs are measured on.

    Returns
    -------
    dict of str to float
        ``image``, ``text``, ``audio`` and ``fused``.

    Examples
    --------
    >>> aurocs = baseline_aurocs(featurize(load_cohort()))
    >>> sorted(aurocs), all(0.5 < v <= 1.0 for v in aurocs.values())
    (['audio', 'fused', 'image', 'text'], True)
    """
    import cv2
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit_mask = np.isin(features.splits, list(fit_split))
    eval_mask = features.splits == eval_split
    small = np.stack([cv2.resize(im[..., 0], (16, 16), interpolation=cv2.INTER_AREA) for im in features.image])
    n_tokens = int(features.text.max()) + 1
    bag = np.zeros((len(features), n_tokens), dtype=np.float32)
    for i, row in enumerate(features.text):
        np.add.at(bag[i], row[row > PAD], 1.0)
    audio = features.audio[..., 0]
    designs = {"image": (small.reshape(len(features), -1), 0.01),
               "text": (np.minimum(bag, 1.0), 0.05),
               "audio": (np.concatenate([audio.mean(axis=2), audio.std(axis=2)], axis=1), 0.1)}
    out: dict[str, float] = {}
    logits = []
    for name, (x, strength) in designs.items():
        model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=5000))
        model.fit(x[fit_mask], features.label[fit_mask])
        score = model.decision_function(x[eval_mask])
        out[name] = float(roc_auc_score(features.label[eval_mask], score))
        logits.append(score)
    out["fused"] = float(roc_auc_score(features.label[eval_mask], np.mean(logits, axis=0)))
    return out
