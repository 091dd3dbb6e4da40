"""From notebook to use (chapter 7): a model bundle, predictions from raw files, a shift check, a model card.

The API in one screen
---------------------
``export(run, features, out_dir, cohort) -> Path``
    Writes a *bundle* directory: the trained model as a TensorFlow SavedModel
    (``saved_model/``, what TF Serving, KServe and other engines load) and as a
    ``model.keras`` file; ``preprocessing.json`` (vocabulary, image size, audio
    sample rate, duration, MFCC settings, normalisation statistics, decision
    threshold); ``reference.npz`` (statistics of the training data for the
    shift check); ``model_card.md``/``model_card.json``; and ``manifest.json``
    (data content hash, package version, commit, training parameters and the
    SHA-256 of every other file).
``load(bundle_dir) -> Bundle``
    Checks all of that and refuses, with a :class:`BundleError` naming the file
    and the problem, a bundle it cannot use.
``Bundle.predict(image=..., note=..., audio=...) -> dict``
    One patient from raw files (any modality may be absent): probability,
    decision at the bundle's threshold, modalities used, warnings.
``Bundle.predict_manifest(data_dir) -> pandas.DataFrame``
    A whole cohort in the manifest format of ``data_samples/`` (labels optional).
``shift_report(bundle, cohort) -> ShiftReport``
    Compares a new cohort with the training data, per modality, before any label is seen.

``python -m medkit predict BUNDLE --image PATH --note TEXT --audio PATH`` (and
``--manifest DIR --out CSV``) is the command-line face of ``Bundle.predict``.

Bad input follows :mod:`medkit.data`: converted where the conversion is well
defined (colour or DICOM image to gray, a higher sample rate resampled, a long
recording trimmed), rejected otherwise (unreadable file, empty note, a sample
rate below the model's, a recording shorter than half the model's window), and
either way the message names the file and the problem.

Examples
--------
>>> from medkit import deploy
>>> path = deploy.export(run, features, "bundle", cohort)       # doctest: +SKIP
>>> bundle = deploy.load(path)                                  # doctest: +SKIP
>>> bundle.predict(image="x.jpg", note="Denies fever.", audio="y.wav")["probability"]  # doctest: +SKIP
0.81
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import medkit
from medkit import REPO_ROOT
from medkit.data import MODALITIES, data_content_hash

__all__ = [
    "BUNDLE_FORMAT", "BundleError", "InputError", "Bundle", "PatientFiles", "ShiftReport",
    "export", "load", "read_requests", "file_statistics", "shift_report", "subgroups_from_notes",
    "data_content_hash",
]

BUNDLE_FORMAT = 1
#: A recording shorter than this fraction of the model's window is rejected (mostly padding).
MIN_AUDIO_FRACTION = 0.5
#: A recording quieter than this RMS is rejected as silent.
SILENCE_RMS = 1e-4
_REQUIRED_FILES = ("model.keras", "preprocessing.json", "reference.npz", "model_card.md", "model_card.json")
_PREPROCESSING_KEYS = {"modalities": list, "image_size": int, "text_len": int, "sr": int, "duration": float,
                       "n_mfcc": int, "hop_length": int, "n_fft": int, "n_mels": int, "vocabulary": list,
                       "threshold": float, "threshold_rule": str, "image_mean": float, "image_std": float,
                       "audio_mean": list, "audio_std": list, "vocab_size": int}


class BundleError(ValueError):
    """A bundle that cannot be used: which file, what is wrong.

    Taught in chapter 7, section *Loading checks everything* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    message : str
        ``bundle PATH: what is wrong``.

    Examples
    --------
    >>> load("no/such/bundle")
    Traceback (most recent call last):
    ...
    medkit.deploy.BundleError: bundle no/such/bundle is not a directory
    """


class InputError(ValueError):
    """A patient's input that cannot be used: which file (or the note), what is wrong.

    Taught in chapter 7, section *One new patient, from files* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    message : str
        Names the file (or the note) and the problem.

    Examples
    --------
    >>> raise InputError("note is empty")
    Traceback (most recent call last):
    ...
    medkit.deploy.InputError: note is empty
    """


# ====================================================================== one BLAS thread
_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """A context in which numpy/scipy BLAS use one thread (as :func:`medkit.data.featurize` does).

    The matrices of one patient are tiny; on a busy 2-core machine extra BLAS threads only
    contend (MFCCs 4-5x slower). The controller is built once: entering it costs microseconds,
    where ``threadpool_limits()`` rescans the loaded libraries (milliseconds) on every call.

    Taught in chapter 7, section *Latency and throughput* (``notebooks/07_deployment.ipynb``).

    Returns
    -------
    context manager
        Limits numpy's BLAS to one thread inside a ``with`` block.

    Examples
    --------
    >>> with one_blas_thread():
    ...     float(np.ones((2, 2)).dot(np.ones(2))[0])
    2.0
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        import librosa  # noqa: F401  (load scipy's BLAS before the controller lists the libraries)
        import sklearn.linear_model  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


# ====================================================================== hashing and provenance
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_commit() -> dict[str, Any]:
    """The repository's commit and whether the working tree had changes (None outside a git checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"medkit": medkit.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__}


# ====================================================================== subgroups
_AGE_SEX = re.compile(r"\b(\d{1,3})(?:-year-old| ?y/o| ?yo)\s+(man|woman|male|female)\b", re.IGNORECASE)
AGE_BANDS = ((0, 40, "<40"), (40, 65, "40-64"), (65, 200, "65+"))


def subgroups_from_notes(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Sex and age band of each patient, read from the opening of the note ("unknown" if absent).

    Taught in chapter 7, section *The model card* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    texts : sequence of str
        Clinical notes.

    Returns
    -------
    dict of str to ndarray
        ``sex`` and ``age_band`` per note.

    Examples
    --------
    >>> groups = subgroups_from_notes(["34 y/o woman, 3 days of cough.", "71-year-old man with fever.", "?"])
    >>> groups["sex"].tolist(), groups["age_band"].tolist()
    (['female', 'male', 'unknown'], ['<40', '65+', 'unknown'])
    """
    sex, band = [], []
    for text in texts:
        match = _AGE_SEX.search(text)
        if not match:
            sex.append("unknown")
            band.append("unknown")
            continue
        age, word = int(match.group(1)), match.group(2).lower()
        sex.append("female" if word in ("woman", "female") else "male")
        band.append(next(name for low, high, name in AGE_BANDS if low <= age < high))
    return {"sex": np.array(sex), "age_band": np.array(band)}


# ====================================================================== raw-file statistics
@dataclass
class PatientFiles:
    """One patient's raw inputs (any may be ``None``) and where they came from, for messages.

    Taught in chapter 7, section *One new patient, from files* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    patient_id : str
        The patient.
    image, audio : Path, optional
        The files (``None``: absent).
    note : str, optional
        The note (``None``: absent).
    label : int, optional
        0/1 when the manifest has labels.
    source : dict of str to str
        Where each modality came from (``"images.csv row 3"``), for messages.
    problems : list of str
        What is wrong with this patient's rows.

    Examples
    --------
    >>> PatientFiles("P0001", note="No fever.").audio is None
    True
    """

    patient_id: str
    image: Path | None = None
    note: str | None = None
    audio: Path | None = None
    label: int | None = None
    source: dict[str, str] = field(default_factory=dict)  # modality -> "images.csv row 3" etc.
    problems: list[str] = field(default_factory=list)


def _image_header(path: Path) -> dict[str, Any]:
    """Size and colour of an image file as stored (before any conversion)."""
    import cv2

    if path.suffix.lower() in (".dcm", ".dicom"):
        import pydicom

        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception as exc:
            raise InputError(f"image file {path.name!r}: unreadable DICOM ({exc})") from exc
        return {"width": int(getattr(ds, "Columns", 0)), "height": int(getattr(ds, "Rows", 0)), "channels": 1,
                "colour": False, "format": "dicom"}
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(f"image file {path.name!r}: corrupt or not an image OpenCV can read")
    channels = 1 if raw.ndim == 2 else int(raw.shape[2])
    colour = False
    if channels >= 3:
        rgb = raw[..., :3].astype(np.float64)
        scale = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
        # Colour = the channels differ by more than a rounding step somewhere on average.
        colour = bool(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean() / scale > 1.0 / 255)
    return {"width": int(raw.shape[1]), "height": int(raw.shape[0]), "channels": channels, "colour": colour,
            "format": path.suffix.lower().lstrip(".")}


def _audio_header(path: Path) -> dict[str, Any]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise InputError(f"audio file {path.name!r}: unreadable ({exc})") from exc
    if info.frames == 0:
        raise InputError(f"audio file {path.name!r}: empty (0 samples)")
    return {"sample_rate": int(info.samplerate), "duration_s": float(info.frames / info.samplerate),
            "channels": int(info.channels)}


def file_statistics(image: Path | None, note: str | None, audio: Path | None, prep: Mapping[str, Any]
                    ) -> dict[str, float]:
    """The per-patient numbers the shift check compares (``nan`` for an absent modality).

    ``image_width``, ``image_height``, ``image_colour`` (0/1), ``image_brightness`` and
    ``image_contrast`` (mean and standard deviation of the gray image the model sees);
    ``audio_sample_rate``, ``audio_duration_s``, ``audio_loudness_dbfs`` (RMS of the raw
    recording); ``note_tokens`` and ``note_oov_rate`` (share of tokens outside the vocabulary).

    Taught in chapter 7, section *Detecting the shift before any label is seen*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    image, audio : Path, optional
        The files (``None``: absent).
    note : str, optional
        The note.
    prep : mapping
        The bundle's preprocessing settings (``image_size`` and ``vocabulary`` are used).

    Returns
    -------
    dict of str to float
        Each statistic, ``nan`` for an absent modality.

    Examples
    --------
    >>> from medkit import data
    >>> prep = {"image_size": 64, "vocabulary": ["fever"]}
    >>> stats = file_statistics(data.DEFAULT_DATA_DIR / "img" / "P0001.png", "no fever", None, prep)
    >>> stats["image_width"], stats["note_oov_rate"], math.isnan(stats["audio_duration_s"])
    (128.0, 0.5, True)
    """
    import soundfile as sf

    from medkit import data

    nan = float("nan")
    out = dict.fromkeys(["image_width", "image_height", "image_colour", "image_brightness", "image_contrast",
                         "audio_sample_rate", "audio_duration_s", "audio_loudness_dbfs",
                         "note_tokens", "note_oov_rate"], nan)
    if image is not None:
        header = _image_header(Path(image))
        gray = data.load_image(image, size=int(prep["image_size"]))
        out.update(image_width=float(header["width"]), image_height=float(header["height"]),
                   image_colour=float(header["colour"]), image_brightness=float(gray.mean()),
                   image_contrast=float(gray.std()))
    if audio is not None:
        header = _audio_header(Path(audio))
        y, _ = sf.read(str(audio), dtype="float32", always_2d=True)
        rms = float(np.sqrt(np.mean(y.mean(axis=1) ** 2)))
        out.update(audio_sample_rate=float(header["sample_rate"]), audio_duration_s=header["duration_s"],
                   audio_loudness_dbfs=float(20 * np.log10(max(rms, 1e-10))))
    if note is not None:
        vocabulary = set(prep["vocabulary"])
        tokens = data.tokenize(note)
        out.update(note_tokens=float(len(tokens)),
                   note_oov_rate=float(np.mean([t not in vocabulary for t in tokens])) if tokens else nan)
    return out


# ====================================================================== export
def _threshold(run: Any, val: Mapping[str, np.ndarray]) -> tuple[float, str]:
    from medkit import train

    p_val = train.predict(run.model, val)
    return float(train.choose_threshold(val["label"], p_val)), "Youden's J on the validation split"


def _embedding_model(model: Any) -> Any:
    """A model giving each branch's embedding (layers ``<modality>_embedding``), or None."""
    import keras

    from medkit import models

    names = models.model_modalities(model)
    try:
        outputs = {m: model.get_layer(f"{m}_embedding").output for m in names}
    except ValueError:
        return None
    return keras.Model(model.inputs, outputs)


def _embeddings(model: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    sub = _embedding_model(model)
    if sub is None:
        return {}
    from medkit import models

    # Eagerly, not sub.predict: every new sub-model's predict would trace Keras's predict function again
    # (export and each shift_report build one), and TensorFlow warns after five such retracings.
    out = models.forward(sub, {k: np.asarray(v) for k, v in inputs.items()}, batch_size=256)
    return {m: np.asarray(v, dtype=np.float32) for m, v in out.items()}


def _write_saved_model(model: Any, path: Path, prep: Mapping[str, Any], missing_endpoints: bool = False
                       ) -> list[str]:
    """A SavedModel whose endpoints run the model in inference mode.

    ``serve`` (also the ``serving_default`` signature) takes every modality. With
    ``missing_endpoints``, one more endpoint per pattern of missing modalities
    (``serve_without_audio``, ...), each a frozen copy of the model whose modality
    mask leaves those out, for engines that cannot call medkit (several seconds more).

    ``model.export()`` with its defaults calls the model *without* ``training=False``,
    which leaves Keras's random augmentation layers (``RandomFlip``, ``RandomRotation``,
    ``RandomContrast``) switched on: the served model then answers differently on every
    call. Each endpoint here calls ``model(x, training=False)``.
    """
    import itertools

    import keras
    import tensorflow as tf

    from medkit import models

    names = models.model_modalities(model)
    spec = _input_specs(prep)
    signature = {m: tf.TensorSpec((None, *spec[m][0]), spec[m][1], name=m) for m in names}
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", _inference(model), input_signature=[signature])
    endpoints = ["serve"]
    for k in range(1, len(names) if missing_endpoints else 1):
        for missing in itertools.combinations(names, k):
            # A frozen copy whose modality mask leaves these modalities out, as models.predict_missing does.
            clone = keras.models.clone_model(model)
            with models.modality_mask(model, missing):
                clone.set_weights(model.get_weights())
            archive.track(clone)
            name = "serve_without_" + "_".join(missing)
            archive.add_endpoint(name, _inference(clone), input_signature=[signature])
            endpoints.append(name)
    # Writing a SavedModel logs "Assets written to ..." at INFO, and TensorFlow turns INFO on in interactive
    # kernels (its first get_logger() call): a notebook would show it as a stderr block under every export.
    import tensorflow as tf

    tf.get_logger().setLevel(logging.WARNING)
    archive.write_out(str(path), verbose=False)
    return endpoints


def _inference(model: Any) -> Any:
    def serve(inputs: Any) -> Any:
        return model(inputs, training=False)

    return serve


def _input_specs(prep: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    s, n_frames = int(prep["image_size"]), 1 + int(round(prep["sr"] * prep["duration"])) // int(prep["hop_length"])
    return {"image": ((s, s, 1), "float32"), "text": ((int(prep["text_len"]),), "int32"),
            "audio": ((int(prep["n_mfcc"]), n_frames, 1), "float32")}


def _metrics_block(y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int, seed: int) -> dict[str, Any]:
    from medkit import train

    table = train.evaluate_probabilities(y, p, threshold, n_boot=n_boot, seed=seed)
    return {name: {k: float(v) for k, v in row.items()} for name, row in table.iterrows()}


def _calibration(y: np.ndarray, p: np.ndarray, n_bins: int = 5) -> dict[str, Any]:
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, n_bins) if b.size]
    rows = [{"n": int(b.size), "mean_predicted": float(p[b].mean()), "observed": float(y[b].mean())} for b in bins]
    ece = float(sum(r["n"] * abs(r["mean_predicted"] - r["observed"]) for r in rows) / len(p))
    return {"bins": rows, "expected_calibration_error": ece,
            "mean_predicted": float(p.mean()), "prevalence": float(y.mean())}


def _subgroup_metrics(y: np.ndarray, p: np.ndarray, groups: Mapping[str, np.ndarray], n_boot: int,
                      seed: int) -> list[dict[str, Any]]:
    from medkit import metrics

    rows = []
    for factor, values in groups.items():
        order = {name: i for i, name in enumerate(["female", "male"] + [b[2] for b in AGE_BANDS])}
        for value in sorted(set(values.tolist()), key=lambda v: (order.get(v, len(order)), v)):
            mask = values == value
            n, n_pos = int(mask.sum()), int(y[mask].sum())
            row: dict[str, Any] = {"factor": factor, "group": value, "n": n, "n_positive": n_pos}
            if n_pos == 0 or n_pos == n:
                row.update(auroc=None, ci_low=None, ci_high=None, note="one class only: no AUROC")
            else:
                ci = metrics.bootstrap_ci(metrics.roc_auc, y[mask], p[mask], n_boot=n_boot, seed=seed,
                                          stratified=True)
                row.update(auroc=ci.estimate, ci_low=ci.low, ci_high=ci.high)
            rows.append(row)
    return rows


def export(run: Any, features: Any, out_dir: str | Path, cohort: Any, *, threshold: float | None = None,
           n_boot: int = 1000, seed: int = 0, overwrite: bool = False, missing_endpoints: bool = False) -> Path:
    """Write a self-contained model bundle for ``run`` into ``out_dir``; return its path.

    Taught in chapter 7, section *A bundle: everything the model needs, in one directory*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    run : medkit.train.TrainResult
        The trained model and its configuration (``train.fit``).
    features : medkit.data.Features
        The features it was trained on (vocabulary, preprocessing parameters, splits).
    out_dir : str or Path
        The bundle directory; must not exist, be empty, or (``overwrite=True``) be a bundle.
    cohort : medkit.data.Cohort
        The cohort ``features`` came from: its files give the data's content hash and
        the reference statistics of the shift check.
    threshold : float, optional
        Decision threshold; default: Youden's J on the validation split.
    n_boot, seed : int
        Bootstrap resamples (and seed) of the model card's confidence intervals.
    overwrite : bool
        Replace an existing bundle at ``out_dir``.
    missing_endpoints : bool
        Also write SavedModel endpoints for each pattern of missing modalities
        (``serve_without_text``, ...), for serving engines; slower to export.

    Returns
    -------
    Path
        ``out_dir``.

    Examples
    --------
    >>> bundle_dir = export(run, features, "_build/bundle", cohort)  # doctest: +SKIP
    >>> sorted(p.name for p in bundle_dir.iterdir())  # doctest: +SKIP
    ['manifest.json', 'model.keras', 'model_card.json', 'model_card.md', 'preprocessing.json', 'reference.npz',
     'saved_model']
    """
    from medkit import metrics, models

    out = Path(out_dir)
    if len(features) != len(cohort) or not np.array_equal(np.asarray(features.ids), np.asarray(cohort.ids)):
        raise ValueError(f"features ({len(features)} patients) do not come from this cohort ({len(cohort)} "
                         f"patients at {cohort.data_dir}): pass the cohort featurize() was given")
    model, config = run.model, run.config
    names = models.model_modalities(model)
    splits = {s: features.split(s) for s in ("train", "val", "test")}
    inputs = model.input if isinstance(model.input, dict) else dict(zip(names, model.inputs, strict=True))
    for m in names:
        want = (features.image.shape[1:] if m == "image" else features.text.shape[1:] if m == "text"
                else features.audio.shape[1:])
        if tuple(inputs[m].shape[1:]) != tuple(want):
            hint = (" (a head-only run reads embeddings: export models.assemble(config, branches, run.model))"
                    if run.extra.get("head_only") else "")
            raise ValueError(f"run.model's {m} input has shape {tuple(inputs[m].shape[1:])}, but the features' "
                             f"{m} is {tuple(want)}{hint}")
    _check_replaceable(out, overwrite)
    # Written beside its place and moved in at the end: a reader (or a second export of the same
    # directory) never finds half a bundle.
    final, out = out, out.parent / f".{out.name}.partial-{os.getpid()}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        if threshold is None:
            threshold, rule = _threshold(run, splits["val"])
        else:
            threshold, rule = float(threshold), "given at export"
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1); got {threshold}")
        params = dict(features.params)
        vocabulary = sorted(features.vocabulary, key=features.vocabulary.get)
        if [features.vocabulary[t] for t in vocabulary] != list(range(2, len(vocabulary) + 2)):
            raise ValueError("features.vocabulary must map its tokens to 2, 3, ... without gaps (0 pads, 1 is OOV)")
        prep = {"modalities": list(names), "image_size": int(params["image_size"]), "text_len": int(params["text_len"]),
                "sr": int(params["sr"]), "duration": float(params["duration"]), "n_mfcc": int(params["n_mfcc"]),
                "hop_length": int(params["hop_length"]), "n_fft": 512, "n_mels": 40,
                "min_count": int(params.get("min_count", 1)), "vocabulary": vocabulary,
                "vocab_size": int(config.vocab_size), "threshold": threshold, "threshold_rule": rule,
                "image_mean": float(config.image_mean), "image_std": float(config.image_std),
                "audio_mean": [float(v) for v in (config.audio_mean or [])],
                "audio_std": [float(v) for v in (config.audio_std or [])],
                "min_audio_s": MIN_AUDIO_FRACTION * float(params["duration"])}
        (out / "preprocessing.json").write_text(json.dumps(prep, indent=1) + "\n")

        model.save(out / "model.keras")
        endpoints = _write_saved_model(model, out / "saved_model", prep, missing_endpoints)

        # Reference statistics for the shift check: raw-file numbers of the train + val patients; the
        # vocabulary-dependent OOV rate and the embeddings from the validation split only (the vocabulary and
        # the weights were fitted on the training split, whose notes have no OOV words by construction).
        ref_idx = np.flatnonzero(np.isin(cohort.splits, ["train", "val"]))
        with one_blas_thread():
            stats = [file_statistics(cohort.image_paths[i], cohort.texts[i], cohort.audio_paths[i], prep)
                     for i in ref_idx]
        reference: dict[str, np.ndarray] = {f"stat_{k}": np.array([s[k] for s in stats]) for k in stats[0]}
        reference["stat_split"] = np.asarray(cohort.splits)[ref_idx].astype(str)
        val_inputs = {m: splits["val"][m] for m in names}
        for m, emb in _embeddings(model, val_inputs).items():
            reference[f"embedding_{m}"] = emb
        np.savez(out / "reference.npz", **reference)

        # The model card, from this run's own numbers.
        from medkit import train

        y_test = splits["test"]["label"].astype(int)
        p_test = train.predict(model, splits["test"])
        test_texts = [cohort.texts[i] for i in cohort.indices("test")]
        groups = subgroups_from_notes(test_texts)
        missing = {m: float(metrics.roc_auc(y_test, models.predict_missing(model, {k: splits["test"][k] for k in names},
                                                                          (m,))))
                   for m in names} if len(names) > 1 else {}
        data_hash = data_content_hash(cohort)
        card = {
            "model": {"name": config.name, "fusion": config.fusion, "modalities": list(names),
                      "trained": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "best_epoch": int(run.best_epoch),
                      "epochs_run": len(run.history.get("loss", [])), "parameters": int(model.count_params())},
            "data": {"content_sha256": data_hash, "data_dir": str(cohort.data_dir), **cohort.summary()},
            "threshold": {"value": threshold, "rule": rule},
            "test_metrics": _metrics_block(y_test, p_test, threshold, n_boot, seed),
            "n_boot": int(n_boot),
            "subgroups": _subgroup_metrics(y_test, p_test, groups, n_boot, seed),
            "calibration": _calibration(y_test, p_test),
            "test_auroc_without": missing,
        }
        (out / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
        (out / "model_card.md").write_text(model_card_markdown(card))

        files = sorted(p for p in out.rglob("*") if p.is_file())
        manifest = {
            "format": BUNDLE_FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(), "git": _git_commit(), "data_content_sha256": data_hash,
            "features": params, "config": _plain(dataclasses.asdict(config)),
            "training": {"best_epoch": int(run.best_epoch), "best_val_auroc": float(run.best_val_auroc),
                         "history": run.history, "seconds": float(run.seconds)},
            "saved_model_endpoints": endpoints,
            "files": {p.relative_to(out).as_posix(): _sha256(p) for p in files},
        }
        (out / "manifest.json").write_text(json.dumps(_plain(manifest), indent=1) + "\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    try:  # checked again: another process may have written there meanwhile
        _check_replaceable(final, overwrite)
    except FileExistsError:
        shutil.rmtree(out)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(out, final)
    return final


def _check_replaceable(out: Path, overwrite: bool) -> None:
    """Raise unless ``out`` is absent, empty, or (``overwrite``) a bundle an export may replace."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"bundle directory {out} exists and is not empty; pass overwrite=True to replace it")
        if not (out / "manifest.json").is_file():
            raise FileExistsError(f"{out} is not a bundle (no manifest.json); refusing to delete it")


def _plain(value: Any) -> Any:
    from medkit.glue import to_plain

    return to_plain(value)


# ====================================================================== model card
def _fmt(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """The model card (Mitchell et al., 2019) as Markdown, from :func:`export`'s numbers.

    Taught in chapter 7, section *The model card* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    card : mapping
        ``model_card.json`` as written by :func:`export`.

    Returns
    -------
    str
        The card, one Markdown document.

    Examples
    --------
    >>> text = model_card_markdown(json.loads((bundle_dir / "model_card.json").read_text()))  # doctest: +SKIP
    >>> text.splitlines()[0]  # doctest: +SKIP
    '# Model card: late fusion of image, text, audio'
    """
    m, d, t = card["model"], card["data"], card["threshold"]
    lines = [
        f"# Model card: {m['fusion'] if len(m['modalities']) > 1 else m['name']} fusion of "
        f"{', '.join(m['modalities'])}",
        "",
        "## Model details",
        f"- A Keras model (medkit {m['name']!r}, {m['parameters']:,} parameters) that reads a chest image, a "
        "clinical note and a lung-sound recording and outputs the probability of pneumonia; trained "
        f"{m['trained']}, {m['epochs_run']} epochs, weights of epoch {m['best_epoch']} (best validation AUROC).",
        f"- Decision threshold {_fmt(t['value'])} ({t['rule']}).",
        "- Built with the medkit teaching kit, chapters 6 and 7; provenance (data hash, package versions, "
        "commit, training parameters) in `manifest.json`.",
        "",
        "## Intended use",
        "- **Teaching only.** It shows how a multimodal model is exported, served, documented and monitored.",
        "- **Trained on synthetic data, not for clinical use.** No real patient's data went into it; its "
        "numbers say how well it recovers a signal planted by a simulator, not how well it would diagnose "
        "anyone. Do not use it to make or support any decision about a person.",
        "",
        "## Factors",
        "- Patient subgroups: sex and age band, read from the note's opening sentence.",
        "- Acquisition: image scanner and format, stethoscope (sample rate, length, loudness) and the "
        "clinician's writing style. The training data come from one simulated site; other sites shift all of them.",
        "",
        "## Training and evaluation data",
        f"- {d['n_patients']} synthetic patients ({d['n_positive']} positive) from `{Path(d['data_dir']).name}`, "
        f"split by patient: {d['n_train']} train, {d['n_val']} validation, {d['n_test']} test "
        f"({d['n_test_positive']} positive).",
        f"- Content hash (SHA-256 over ids, labels, splits, notes and file bytes): `{d['content_sha256'][:16]}…`.",
        "",
        f"## Metrics (test split, {d['n_test']} patients; 95% bootstrap CIs, {card['n_boot']} resamples)",
        "",
        "| metric | estimate | 95% CI |",
        "|---|---|---|",
    ]
    for name, row in card["test_metrics"].items():
        lines.append(f"| {name} | {_fmt(row['estimate'])} | {_fmt(row['ci_low'])}–{_fmt(row['ci_high'])} |")
    lines += ["", "F1, sensitivity and specificity at the threshold above. Per subgroup (AUROC):", "",
              "| factor | group | patients | positive | AUROC (95% CI) |", "|---|---|---|---|---|"]
    for row in card["subgroups"]:
        value = (f"{_fmt(row['auroc'])} ({_fmt(row['ci_low'])}–{_fmt(row['ci_high'])})" if row["auroc"] is not None
                 else row.get("note", "n/a"))
        lines.append(f"| {row['factor']} | {row['group']} | {row['n']} | {row['n_positive']} | {value} |")
    lines += ["", "Subgroups of a few dozen test patients have wide intervals: differences between them are "
              "not evidence of a difference in performance.", "",
              "## Calibration", "",
              f"Mean predicted probability {_fmt(card['calibration']['mean_predicted'])} against a prevalence of "
              f"{_fmt(card['calibration']['prevalence'])}; expected calibration error "
              f"{_fmt(card['calibration']['expected_calibration_error'])} (equal-count bins). Class weights in "
              "training push probabilities towards the positive class: read them as scores, not risks, unless "
              "recalibrated on data from the site where the model is used.", "",
              "| bin | patients | mean predicted | observed |", "|---|---|---|---|"]
    for i, b in enumerate(card["calibration"]["bins"], start=1):
        lines.append(f"| {i} | {b['n']} | {_fmt(b['mean_predicted'])} | {_fmt(b['observed'])} |")
    lines += ["", "## Known failure modes", ""]
    if card["test_auroc_without"]:
        drops = ", ".join(f"without the {'note' if k == 'text' else k}: {_fmt(v)}"
                          for k, v in card["test_auroc_without"].items())
        lines.append(f"- **Missing modalities.** Test AUROC with one modality absent ({drops}), against "
                     f"{_fmt(card['test_metrics']['auroc']['estimate'])} with all three. The prediction says "
                     "which modalities it used.")
    lines += [
        "- **Dataset shift.** Images from another scanner, recordings from another stethoscope or notes in "
        "another writing style change what the model sees; its accuracy on them is unknown until measured. "
        "Run `medkit.deploy.shift_report(bundle, new_cohort)` before trusting it at a new site.",
        "- **Out of scope.** Real radiographs, real auscultation, other diseases, children; any clinical decision.",
        "",
        "## Ethical considerations and caveats",
        "- Synthetic data carry none of the biases of real hospital data, and none of its difficulty either: "
        "good numbers here are not evidence for any real model.",
        "- Reference: Mitchell et al., *Model Cards for Model Reporting*, FAT* 2019.",
        "",
    ]
    return "\n".join(lines)


# ====================================================================== load
def _fail(path: Path, what: str) -> BundleError:
    return BundleError(f"bundle {path}: {what}")


def _read_json(bundle: Path, name: str) -> Any:
    path = bundle / name
    if not path.is_file():
        raise _fail(bundle, f"{name} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(bundle, f"{name} is not valid JSON ({exc})") from exc


def _check_preprocessing(bundle: Path, prep: Any) -> None:
    if not isinstance(prep, dict):
        raise _fail(bundle, "preprocessing.json must hold a JSON object")
    for key, kind in _PREPROCESSING_KEYS.items():
        if key not in prep:
            raise _fail(bundle, f"preprocessing.json lacks {key!r}")
        value = prep[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else \
            isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            raise _fail(bundle, f"preprocessing.json: {key!r} must be {kind.__name__}, got {value!r}"[:300])
    for key in ("image_size", "text_len", "sr", "n_mfcc", "hop_length", "vocab_size"):
        if prep[key] < 1:
            raise _fail(bundle, f"preprocessing.json: {key!r} must be positive, got {prep[key]}")
    if not 0.0 < prep["duration"] <= 600:
        raise _fail(bundle, f"preprocessing.json: duration {prep['duration']} s is out of range")
    if not 0.0 < prep["threshold"] < 1.0:
        raise _fail(bundle, f"preprocessing.json: threshold {prep['threshold']} is not in (0, 1)")
    if not prep["modalities"] or any(m not in MODALITIES for m in prep["modalities"]):
        raise _fail(bundle, f"preprocessing.json: modalities {prep['modalities']} must be a non-empty subset of "
                            f"{list(MODALITIES)}")
    if len(prep["vocabulary"]) + 2 > prep["vocab_size"]:
        raise _fail(bundle, f"preprocessing.json: {len(prep['vocabulary'])} tokens (+ padding and OOV) do not fit "
                            f"the model's vocab_size {prep['vocab_size']}")
    if len(set(prep["vocabulary"])) != len(prep["vocabulary"]):
        raise _fail(bundle, "preprocessing.json: the vocabulary lists a token twice")


def load(bundle_dir: str | Path) -> "Bundle":
    """Open a bundle written by :func:`export`, checking everything it needs.

    Refuses (:class:`BundleError`, naming the file and the problem) a bundle whose
    format is not this medkit's, whose files are missing or changed since export
    (SHA-256 in ``manifest.json``), whose preprocessing settings are incomplete or
    inconsistent, whose Keras major version differs, or whose model does not take
    the inputs its preprocessing produces.

    Taught in chapter 7, section *Loading checks everything* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    bundle_dir : str or Path
        A directory written by :func:`export`.

    Returns
    -------
    Bundle
        The checked bundle, ready to predict.

    Examples
    --------
    >>> bundle = load("_build/bundle")  # doctest: +SKIP
    >>> bundle.threshold  # doctest: +SKIP
    0.41
    """
    import keras

    from medkit import fusion, models  # noqa: F401  (registers the custom layers for loading)

    path = Path(bundle_dir)
    if not path.is_dir():
        raise BundleError(f"bundle {path} is not a directory")
    manifest = _read_json(path, "manifest.json")
    if not isinstance(manifest, dict) or "format" not in manifest or "files" not in manifest:
        raise _fail(path, "manifest.json lacks 'format' or 'files': not a medkit bundle")
    if manifest["format"] != BUNDLE_FORMAT:
        raise _fail(path, f"bundle format {manifest['format']!r}; this medkit {medkit.__version__} reads format "
                          f"{BUNDLE_FORMAT}: re-export the model with this version")
    listed = manifest["files"]
    for name in _REQUIRED_FILES:
        if name not in listed:
            raise _fail(path, f"manifest.json does not list {name}")
    if not any(name.startswith("saved_model/") for name in listed):
        raise _fail(path, "manifest.json lists no saved_model/ files")
    for name, digest in listed.items():
        file = path / name
        if not file.is_file():
            raise _fail(path, f"{name} is missing (listed in manifest.json)")
        if _sha256(file) != digest:
            raise _fail(path, f"{name} changed since export (SHA-256 differs from manifest.json)")
    saved_keras = str(manifest.get("versions", {}).get("keras", "?"))
    if saved_keras.split(".")[0] != keras.__version__.split(".")[0]:
        raise _fail(path, f"exported with Keras {saved_keras}; this is Keras {keras.__version__} (major differs)")
    prep = _read_json(path, "preprocessing.json")
    _check_preprocessing(path, prep)
    try:
        model = keras.saving.load_model(path / "model.keras", compile=False)
    except Exception as exc:
        raise _fail(path, f"model.keras cannot be loaded ({type(exc).__name__}: {exc})"[:500]) from exc
    try:
        names = models.model_modalities(model)
    except ValueError as exc:
        raise _fail(path, f"model.keras: {exc}") from exc
    if names != list(prep["modalities"]):
        raise _fail(path, f"model.keras takes {names}; preprocessing.json says {prep['modalities']}")
    specs = _input_specs(prep)
    inputs = model.input if isinstance(model.input, dict) else dict(zip(names, model.inputs, strict=True))
    for m in names:
        got = tuple(inputs[m].shape[1:])
        if got != specs[m][0]:
            raise _fail(path, f"model.keras's {m} input has shape {got}; preprocessing.json produces {specs[m][0]}")
    with np.load(path / "reference.npz", allow_pickle=False) as ref:
        reference = {k: ref[k] for k in ref.files}
    card = _read_json(path, "model_card.json")
    return Bundle(path=path, model=model, preprocessing=prep, manifest=manifest, reference=reference, card=card)


# ====================================================================== the bundle in use
@dataclass
class Bundle:
    """A loaded, checked bundle (see :func:`load`): predicts from raw files.

    Taught in chapter 7, section *One new patient, from files* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    path : Path
        The bundle directory.
    model : keras.Model
        The loaded model.
    preprocessing, manifest, card : dict
        ``preprocessing.json``, ``manifest.json`` and ``model_card.json``.
    reference : dict of str to ndarray
        ``reference.npz`` (the shift check's reference statistics).

    Examples
    --------
    >>> bundle = load("_build/bundle")  # doctest: +SKIP
    >>> bundle.modalities, bundle.threshold  # doctest: +SKIP
    (['image', 'text', 'audio'], 0.41)
    """

    path: Path
    model: Any
    preprocessing: dict[str, Any]
    manifest: dict[str, Any]
    reference: dict[str, np.ndarray]
    card: dict[str, Any]
    _serve: Any = field(default=None, repr=False)

    @property
    def threshold(self) -> float:
        return float(self.preprocessing["threshold"])

    @property
    def modalities(self) -> list[str]:
        return list(self.preprocessing["modalities"])

    @property
    def vocabulary(self) -> dict[str, int]:
        return {t: i + 2 for i, t in enumerate(self.preprocessing["vocabulary"])}

    # ------------------------------------------------------------------ preprocessing one patient
    def preprocess(self, image: str | Path | None = None, note: str | None = None, audio: str | Path | None = None,
                   ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
        """Model inputs ``(1, ...)`` for one patient's raw files, the modalities present, and warnings.

        The same functions as training (:func:`medkit.data.load_image`,
        :func:`~medkit.data.load_audio`, :func:`~medkit.data.mfcc`,
        :func:`~medkit.data.encode_texts`) with the bundle's settings, so serving
        cannot drift from training. An absent modality gets zeros (ignored by the model).

        Parameters
        ----------
        image, audio : str or Path, optional
            The files.
        note : str, optional
            The note.

        Returns
        -------
        inputs, present, warnings
            ``{modality: (1, ...)}``, the modalities given, and what was converted.

        Examples
        --------
        >>> inputs, present, warnings = bundle.preprocess(note="No fever.")  # doctest: +SKIP
        >>> present  # doctest: +SKIP
        ['text']
        """
        with one_blas_thread():
            return self._preprocess(image, note, audio)

    def _preprocess(self, image: str | Path | None, note: str | None, audio: str | Path | None,
                    ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
        from medkit import data

        prep = self.preprocessing
        spec = _input_specs(prep)
        inputs = {m: np.zeros((1, *spec[m][0]), spec[m][1]) for m in self.modalities}
        present: list[str] = []
        warnings: list[str] = []
        given = {"image": image, "text": note, "audio": audio}
        for m, value in given.items():
            if value is not None and m not in self.modalities:
                warnings.append(f"{m}: this model has no {m} branch; input ignored")
        if "image" in self.modalities and image is not None:
            inputs["image"][0, ..., 0] = self._image(Path(image), warnings)
            present.append("image")
        if "text" in self.modalities and note is not None:
            inputs["text"][0] = self._note(note, warnings)
            present.append("text")
        if "audio" in self.modalities and audio is not None:
            path = Path(audio)
            y = self._audio(path, warnings)
            inputs["audio"][0, ..., 0] = data.mfcc(y, prep["sr"], prep["n_mfcc"], n_fft=prep["n_fft"],
                                                   hop_length=prep["hop_length"])
            present.append("audio")
        if not present:
            raise InputError(f"no input for this model: give at least one of {self._option_names()}")
        return inputs, present, warnings

    def _option_names(self) -> str:
        options = {"image": "an image", "text": "a note", "audio": "an audio recording"}
        return ", ".join(options[m] for m in self.modalities)

    def _image(self, path: Path, warnings: list[str]) -> np.ndarray:
        from medkit import data

        if not path.is_file():
            raise InputError(f"image file {path} does not exist")
        size = int(self.preprocessing["image_size"])
        header = _image_header(path)
        if header["format"] == "dicom":
            warnings.append(f"image {path.name}: DICOM converted to gray (modality LUT, window, min-max to [0, 1])")
        elif header["colour"]:
            warnings.append(f"image {path.name}: colour image converted to gray (the model was trained on gray)")
        if header["width"] != header["height"]:
            warnings.append(f"image {path.name}: {header['width']}x{header['height']} is not square; resized to "
                            f"{size}x{size} (the anatomy is stretched)")
        if min(header["width"], header["height"]) < size:
            warnings.append(f"image {path.name}: {header['width']}x{header['height']} is smaller than the model's "
                            f"{size}x{size} input; upsampled")
        try:
            return data.load_image(path, size=size)
        except ValueError as exc:
            raise InputError(f"image file {path.name!r}: {exc}") from exc

    def _note(self, note: str, warnings: list[str]) -> np.ndarray:
        from medkit import data

        if not isinstance(note, str) or not note.strip():
            raise InputError("note is empty")
        tokens = data.tokenize(note)
        if not tokens:
            raise InputError(f"note {note[:40]!r} has no words or numbers the model reads")
        vocabulary = self.vocabulary
        oov = float(np.mean([t not in vocabulary for t in tokens]))
        ref = self.reference.get("stat_note_oov_rate")
        if ref is not None:
            ref = ref[(self.reference["stat_split"] == "val") & ~np.isnan(ref)]
        limit = float(np.quantile(ref, 0.99)) if ref is not None and ref.size else 0.2
        if oov > max(limit, 0.05):
            warnings.append(f"note: {oov:.0%} of its {len(tokens)} words are unknown to the model (at most "
                            f"{limit:.0%} in 99% of validation notes); the text branch sees little of it")
        return data.encode_texts([note], vocabulary, int(self.preprocessing["text_len"]))[0]

    def _audio(self, path: Path, warnings: list[str]) -> np.ndarray:
        from medkit import data

        if not path.is_file():
            raise InputError(f"audio file {path} does not exist")
        prep = self.preprocessing
        sr, duration = int(prep["sr"]), float(prep["duration"])
        header = _audio_header(path)
        if header["sample_rate"] < sr:
            raise InputError(f"audio file {path.name!r}: recorded at {header['sample_rate']} Hz, below the model's "
                             f"{sr} Hz; upsampling cannot restore the band from {header['sample_rate'] // 2} to "
                             f"{sr // 2} Hz the model listens to")
        min_s = float(prep.get("min_audio_s", MIN_AUDIO_FRACTION * duration))
        if header["duration_s"] < min_s:
            raise InputError(f"audio file {path.name!r}: {header['duration_s']:.2f} s long; the model needs at "
                             f"least {min_s:.2f} s (its window is {duration:.2f} s)")
        if header["sample_rate"] > sr:
            warnings.append(f"audio {path.name}: resampled from {header['sample_rate']} Hz to {sr} Hz")
        if header["channels"] > 1:
            warnings.append(f"audio {path.name}: {header['channels']} channels mixed down to mono")
        if header["duration_s"] > duration + 1e-6:
            warnings.append(f"audio {path.name}: only the first {duration:.2f} s of {header['duration_s']:.2f} s "
                            "are used")
        try:
            y = data.load_audio(path, sr=sr, duration=duration)
        except ValueError as exc:
            raise InputError(f"audio file {path.name!r}: {exc}") from exc
        if float(np.sqrt(np.mean(y ** 2))) < SILENCE_RMS:
            raise InputError(f"audio file {path.name!r}: silent (RMS below {SILENCE_RMS:g}); nothing to analyse")
        return y

    # ------------------------------------------------------------------ predicting
    def forward(self, inputs: Mapping[str, np.ndarray], missing: Sequence[str] = ()) -> np.ndarray:
        """Probabilities ``(N,)`` for preprocessed inputs; ``missing`` modalities are left out.

        One compiled inference call (``model(x, training=False)`` in a ``tf.function``,
        no ``predict`` loop: fast for one patient). Missing modalities are left out by
        the model's modality mask (:func:`medkit.models.modality_mask`), exactly as
        :func:`medkit.models.predict_missing` does. The mask is model state: use one
        ``Bundle`` per thread.

        Parameters
        ----------
        inputs : mapping of str to ndarray
            Preprocessed inputs ``(N, ...)`` of every modality (absent ones: any values).
        missing : sequence of str
            Modalities to leave out.

        Returns
        -------
        ndarray of float64, shape (N,)
            One probability per row of ``inputs``.

        Examples
        --------
        >>> bundle.forward(inputs, missing=("audio",))  # doctest: +SKIP
        array([0.62])
        """
        from medkit import models

        x = {m: np.asarray(inputs[m]) for m in self.modalities}
        if self._serve is None:
            import tensorflow as tf

            model = self.model
            self._serve = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
        if not missing:
            return np.asarray(self._serve(x), dtype=np.float64).reshape(-1)
        with models.modality_mask(self.model, tuple(missing)):
            return np.asarray(self._serve(x), dtype=np.float64).reshape(-1)

    def predict(self, image: str | Path | None = None, note: str | None = None, audio: str | Path | None = None,
                timings: bool = False) -> dict[str, Any]:
        """Predict one patient from raw files; any modality may be ``None`` (absent).

        Parameters
        ----------
        image, audio : str or Path, optional
            The files (``None``: absent).
        note : str, optional
            The note.
        timings : bool
            Also report the milliseconds spent.

        Returns
        -------
        dict
            ``probability``, ``decision`` ("positive"/"negative" at ``threshold``),
            ``threshold``, ``modalities_used``, ``modalities_missing``, ``warnings``;
            with ``timings=True`` also ``preprocess_ms`` and ``model_ms``.

        Raises
        ------
        InputError
            An input that cannot be used (the message names the file or the note).

        Examples
        --------
        >>> bundle.predict(image="P0001.png", note="Denies fever.")["modalities_missing"]  # doctest: +SKIP
        ['audio']
        """
        start = time.perf_counter()
        inputs, present, warnings = self.preprocess(image=image, note=note, audio=audio)
        missing = [m for m in self.modalities if m not in present]
        middle = time.perf_counter()
        probability = float(self.forward(inputs, missing)[0])
        end = time.perf_counter()
        if missing:
            warnings.append(f"predicted without {', '.join(missing)}: the model leaves "
                            f"{'it' if len(missing) == 1 else 'them'} out (test AUROC is lower; see the model card)")
        out = {"probability": probability, "decision": "positive" if probability >= self.threshold else "negative",
               "threshold": self.threshold, "modalities_used": present, "modalities_missing": missing,
               "warnings": warnings}
        if timings:
            out.update(preprocess_ms=1e3 * (middle - start), model_ms=1e3 * (end - middle))
        return out

    def predict_manifest(self, data_dir: str | Path) -> Any:
        """Predict every patient of a cohort directory (manifest format of ``data_samples/``, labels optional).

        Returns a DataFrame, one row per patient (none dropped): ``patient_id``,
        ``probability`` and ``decision`` (empty when the patient's input was
        rejected), ``modalities_used``, ``warnings``, ``error`` and ``label`` if
        the manifest has labels.

        Taught in chapter 7, section *Another site: the same disease, recorded differently*
        (``notebooks/07_deployment.ipynb``).

        Parameters
        ----------
        data_dir : str or Path
            A cohort directory (:func:`read_requests`).

        Returns
        -------
        pandas.DataFrame
            One row per patient, rejected ones included with their ``error``.

        Examples
        --------
        >>> table = bundle.predict_manifest("site_b")  # doctest: +SKIP
        >>> list(table.columns)[:3]  # doctest: +SKIP
        ['patient_id', 'probability', 'decision']
        """
        import pandas as pd

        requests = read_requests(data_dir)
        spec = _input_specs(self.preprocessing)
        rows, groups = [], {}
        for index, req in enumerate(requests):
            row = {"patient_id": req.patient_id, "probability": None, "decision": None, "modalities_used": "",
                   "warnings": "", "error": "", "label": req.label}
            if req.problems:
                row["error"] = "; ".join(req.problems)
            else:
                try:
                    inputs, present, warnings = self.preprocess(req.image, req.note, req.audio)
                    missing = tuple(m for m in self.modalities if m not in present)
                    groups.setdefault(missing, []).append((index, inputs))
                    row.update(modalities_used="+".join(present), warnings=" | ".join(warnings))
                except (InputError, FileNotFoundError, ValueError) as exc:
                    where = ", ".join(f"{m}: {s}" for m, s in req.source.items())
                    row["error"] = f"{exc} ({where})" if where else str(exc)
            rows.append(row)
        for missing, members in groups.items():
            batch = {m: np.concatenate([inp[m] for _, inp in members]) for m in spec if m in self.modalities}
            probs = self.forward(batch, missing) if missing else self._predict_many(batch)
            for (index, _), p in zip(members, probs, strict=True):
                rows[index]["probability"] = float(p)
                rows[index]["decision"] = "positive" if p >= self.threshold else "negative"
                if missing:
                    note = f"predicted without {'+'.join(missing)}"
                    rows[index]["warnings"] = " | ".join(w for w in (rows[index]["warnings"], note) if w)
        table = pd.DataFrame(rows)
        if table["label"].isna().all():
            table = table.drop(columns="label")
        return table

    def _predict_many(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        from medkit import train

        return train.predict(self.model, batch)


# ====================================================================== reading a cohort to predict
def read_requests(data_dir: str | Path) -> list[PatientFiles]:
    """The patients of a manifest directory, each with whatever modalities it has (labels optional).

    Reuses :mod:`medkit.data`'s manifest reading and path checks. ``texts.csv``
    needs ``patient_id`` and ``content`` (``label`` and ``split`` optional);
    ``images.csv`` and ``audios.csv`` need ``patient_id`` and ``path``; a missing
    manifest means that modality is absent for everyone. A patient missing from
    one manifest is predicted without that modality. Problems that concern one
    patient (a duplicate id, a path outside the directory, a missing file, an empty
    note, a bad label) are attached to that patient, naming the manifest row;
    a manifest that cannot be read at all raises :class:`medkit.data.CohortError`.

    Taught in chapter 7, section *Another site: the same disease, recorded differently*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    data_dir : str or Path
        A directory with any of ``images.csv``, ``texts.csv``, ``audios.csv``.

    Returns
    -------
    list of PatientFiles
        Sorted by patient id.

    Examples
    --------
    >>> requests = read_requests("data_samples")
    >>> len(requests), requests[0].patient_id, requests[0].label
    (400, 'P0001', 0)
    """
    from medkit import data

    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir {root} is not a directory")
    required = {"images.csv": ("patient_id", "path"), "texts.csv": ("patient_id", "content"),
                "audios.csv": ("patient_id", "path")}
    problems: list[Any] = []
    manifests = {}
    for name, columns in required.items():
        if not (root / name).is_file():
            manifests[name] = []
            continue
        rows = data._read_manifest(root / name, columns, problems)
        if rows is None:
            raise data.CohortError(root, problems)
        manifests[name] = rows
    if not any(manifests.values()):
        raise data.CohortError(root, [data.Problem("(all)", None, None,
                                                   "no images.csv, texts.csv or audios.csv with rows")])
    patients: dict[str, PatientFiles] = {}

    def patient(pid: str) -> PatientFiles:
        return patients.setdefault(pid, PatientFiles(patient_id=pid))

    modality_of = {"images.csv": "image", "texts.csv": "text", "audios.csv": "audio"}
    for name, rows in manifests.items():
        modality = modality_of[name]
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            pid = (row.get("patient_id") or "").strip()
            if not pid:
                raise data.CohortError(root, [data.Problem(name, number, None, "empty patient_id")])
            req = patient(pid)
            where = f"{name} row {number}"
            if pid in seen:
                req.problems.append(f"{where}: duplicate patient_id (first in row {seen[pid]})")
                continue
            seen[pid] = number
            req.source[modality] = where
            if modality == "text":
                content = row.get("content") or ""
                if not content.strip():
                    req.problems.append(f"{where}: empty note (content)")
                req.note = content
                label = (row.get("label") or "").strip()
                if label in ("0", "1"):
                    req.label = int(label)
                elif label:
                    req.problems.append(f"{where}: label must be 0, 1 or empty, got {label!r}")
            else:
                relative = row.get("path") or ""
                if not relative.strip():
                    continue  # an empty path: this patient has no file of this modality
                path, reason = data._resolve_inside(root, relative)
                if reason:
                    req.problems.append(f"{where}: {reason}")
                elif modality == "image":
                    req.image = path
                else:
                    req.audio = path
    return [patients[p] for p in sorted(patients)]


# ====================================================================== shift
@dataclass
class ShiftReport:
    """What :func:`shift_report` found: one row per test, the modalities that moved.

    Taught in chapter 7, section *Detecting the shift before any label is seen*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per test.
    flagged : list of str
        The modalities that moved.
    n_reference, n_new : int
        Patients compared.
    alpha : float
        Family-wise significance level.
    skipped : list of (str, str)
        Patients left out, and why.

    Examples
    --------
    >>> import pandas as pd
    >>> ShiftReport(pd.DataFrame(), [], 320, 60, 0.01).summary()
    'no modality moved detectably (60 new patients against 320 reference patients)'
    """

    table: Any  # pandas.DataFrame
    flagged: list[str]
    n_reference: int
    n_new: int
    alpha: float
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One sentence: which modalities moved (and by which statistics), or that none did.

        Returns
        -------
        str
            For a notebook or a log line.

        Examples
        --------
        >>> import pandas as pd
        >>> table = pd.DataFrame({"modality": ["audio"], "statistic": ["audio_sample_rate"], "flagged": [True]})
        >>> ShiftReport(table, ["audio"], 320, 60, 0.01).summary()
        'shift detected in audio (audio_sample_rate)'
        """
        skipped = f"; {len(self.skipped)} patient(s) skipped (see .skipped)" if self.skipped else ""
        if not self.flagged:
            return (f"no modality moved detectably ({self.n_new} new patients against {self.n_reference} "
                    f"reference patients{skipped})")
        parts = []
        for m in self.flagged:
            rows = self.table[(self.table["modality"] == m) & self.table["flagged"]]
            parts.append(f"{m} ({', '.join(rows['statistic'])})")
        return f"shift detected in {', '.join(parts)}{skipped}"

    def _repr_html_(self) -> str:
        return f"<p><b>{self.summary()}</b></p>" + self.table.to_html(index=False, float_format=lambda x: f"{x:.3g}")


def _domain_auroc(reference: np.ndarray, new: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Cross-validated AUROC of a classifier telling new rows from reference rows, and a p-value.

    The p-value is a one-sided Mann-Whitney test on the out-of-fold scores (0.5 = no shift).
    """
    from scipy.stats import mannwhitneyu
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([reference, new]).astype(np.float64)
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(new))])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = cross_val_predict(clf, x, y, cv=folds, method="decision_function")
    auroc = float(roc_auc_score(y, scores))
    p = float(mannwhitneyu(scores[y == 1], scores[y == 0], alternative="greater").pvalue)
    return auroc, p


_STAT_MODALITY = {"image": ["image_width", "image_height", "image_colour", "image_brightness", "image_contrast"],
                  "audio": ["audio_sample_rate", "audio_duration_s", "audio_loudness_dbfs"],
                  "text": ["note_tokens", "note_oov_rate"]}
_CATEGORICAL = {"image_width", "image_height", "image_colour", "audio_sample_rate"}


def shift_report(bundle: Bundle, cohort: Any, *, split: str | None = None, alpha: float = 0.01,
                 min_ks: float = 0.25, min_unseen: float = 0.05, min_domain_auroc: float = 0.7,
                 seed: int = 0) -> ShiftReport:
    """Compare a new cohort with the bundle's training data, per modality, without its labels.

    Tests, each against the bundle's reference (``reference.npz``):

    * raw-file numbers (:func:`file_statistics`): for image size, colour and sample
      rate the share of new files with a value never seen in training (flagged above
      ``min_unseen``); for brightness, contrast, duration, loudness, note length and
      out-of-vocabulary rate a two-sample Kolmogorov-Smirnov test (flagged when
      significant and its statistic D is at least ``min_ks``);
    * what the model sees: a logistic-regression *domain classifier* on each branch's
      embedding, new patients against the validation split; its cross-validated AUROC
      is 0.5 when the two are indistinguishable (flagged when significant and at least
      ``min_domain_auroc``).

    Significance is Bonferroni-corrected over all tests at family level ``alpha``; the
    effect-size floors keep a large cohort from flagging differences too small to matter.

    Taught in chapter 7, section *Detecting the shift before any label is seen*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    bundle : Bundle
        From :func:`load`.
    cohort : medkit.data.Cohort, str or Path
        The new patients (labels are not used); a directory is read with :func:`read_requests`.
    split : str, optional
        Only the patients of this split of a ``Cohort`` ("test": a sanity check on
        patients of the training site the model never saw).

    Returns
    -------
    ShiftReport
        ``table`` (modality, statistic, test, reference, new, effect, p_value, flagged),
        ``flagged`` (modalities that moved), ``summary()``.

    Examples
    --------
    >>> report = shift_report(bundle, "site_b")  # doctest: +SKIP
    >>> report.flagged  # doctest: +SKIP
    ['image', 'text', 'audio']
    """
    with one_blas_thread():
        return _shift_report(bundle, cohort, split, alpha, min_ks, min_unseen, min_domain_auroc, seed)


def _shift_report(bundle: Bundle, cohort: Any, split: str | None, alpha: float, min_ks: float,
                  min_unseen: float, min_domain_auroc: float, seed: int) -> ShiftReport:
    import pandas as pd
    from scipy.stats import ks_2samp

    if isinstance(cohort, (str, Path)):
        if split is not None:
            raise ValueError("split= selects patients of a Cohort; a directory is read whole")
        candidates = read_requests(cohort)
    else:
        chosen = cohort.indices(split) if split is not None else range(len(cohort))
        candidates = [PatientFiles(str(cohort.ids[i]), Path(cohort.image_paths[i]), cohort.texts[i],
                                   Path(cohort.audio_paths[i])) for i in chosen]
    prep, ref = bundle.preprocessing, bundle.reference
    requests, new_stats, skipped = [], [], []
    for r in candidates:  # a patient whose files cannot be read is listed in .skipped, never dropped silently
        if r.problems:
            skipped.append((r.patient_id, "; ".join(r.problems)))
            continue
        try:
            new_stats.append(file_statistics(r.image, r.note, r.audio, prep))
            requests.append(r)
        except (InputError, ValueError, OSError) as exc:
            skipped.append((r.patient_id, str(exc)))
    if len(requests) < 10:
        raise ValueError(f"shift_report needs at least 10 usable patients; got {len(requests)} "
                         f"({len(skipped)} skipped: {skipped[:3]})")
    rows: list[dict[str, Any]] = []
    is_val = ref["stat_split"] == "val"
    for modality, names in _STAT_MODALITY.items():
        if modality not in bundle.modalities:
            continue
        for name in names:
            reference = ref[f"stat_{name}"]
            if name == "note_oov_rate":
                reference = reference[is_val]  # training notes have no OOV words by construction
            reference = reference[~np.isnan(reference)]
            new = np.array([s[name] for s in new_stats])
            new = new[~np.isnan(new)]
            if new.size == 0 or reference.size == 0:
                continue
            if name in _CATEGORICAL:
                seen = set(np.unique(reference).tolist())
                unseen = float(np.mean([v not in seen for v in new]))
                rows.append({"modality": modality, "statistic": name, "test": "share of unseen values",
                             "reference": ", ".join(f"{v:g}" for v in sorted(seen)[:4]) + (" …" if len(seen) > 4
                                                                                         else ""),
                             "new": ", ".join(f"{v:g}" for v in np.unique(new)[:4]) +
                                    (" …" if np.unique(new).size > 4 else ""),
                             "effect": unseen, "p_value": float("nan"), "_large": unseen > min_unseen})
            else:
                test = ks_2samp(reference, new)
                rows.append({"modality": modality, "statistic": name, "test": "Kolmogorov-Smirnov D",
                             "reference": f"median {np.median(reference):.3g}", "new": f"median {np.median(new):.3g}",
                             "effect": float(test.statistic), "p_value": float(test.pvalue),
                             "_large": float(test.statistic) >= min_ks})
    # What the model sees: embeddings of the new patients against those of the validation split.
    embedding_keys = [m for m in bundle.modalities if f"embedding_{m}" in ref]
    batch = []
    for r in requests:
        if not all((r.note if m == "text" else getattr(r, m)) is not None for m in bundle.modalities):
            continue  # embeddings are compared on patients with every modality
        try:
            batch.append(bundle.preprocess(r.image, r.note, r.audio)[0])
        except (InputError, ValueError) as exc:  # e.g. a recording the model cannot use
            skipped.append((r.patient_id, f"not in the embedding test: {exc}"))
    if embedding_keys and len(batch) >= 10:
        inputs = {m: np.concatenate([b[m] for b in batch]) for m in bundle.modalities}
        new_emb = _embeddings(bundle.model, inputs)
        for m in embedding_keys:
            auroc, p = _domain_auroc(ref[f"embedding_{m}"], new_emb[m], seed=seed)
            rows.append({"modality": m, "statistic": f"{m} embedding", "test": "domain classifier AUROC",
                         "reference": f"{len(ref[f'embedding_{m}'])} validation patients",
                         "new": f"{len(new_emb[m])} patients", "effect": auroc, "p_value": p,
                         "_large": auroc >= min_domain_auroc})
    table = pd.DataFrame(rows)
    n_tests = int(table["p_value"].notna().sum())
    significant = table["p_value"] < alpha / max(n_tests, 1)
    table["flagged"] = np.where(table["p_value"].isna(), table["_large"], significant & table["_large"])
    table["flagged"] = table["flagged"].astype(bool)
    table = table.drop(columns="_large")
    flagged = [m for m in bundle.modalities if table.loc[table["modality"] == m, "flagged"].any()]
    n_ref = int(np.sum(~np.isnan(ref["stat_image_brightness"]))) if "stat_image_brightness" in ref else 0
    return ShiftReport(table=table, flagged=flagged, n_reference=n_ref, n_new=len(requests), alpha=alpha,
                       skipped=skipped)


# ====================================================================== writing predictions
def write_predictions_csv(table: Any, path: str | Path) -> Path:
    r"""Write :meth:`Bundle.predict_manifest`'s table as CSV (``\n`` line endings, UTF-8).

    Taught in chapter 7, section *Serving at scale* (``notebooks/07_deployment.ipynb``). (``python
    -m medkit predict --manifest``)

    Parameters
    ----------
    table : pandas.DataFrame
        From :meth:`Bundle.predict_manifest`.
    path : str or Path
        The CSV file to write.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     table = pd.DataFrame({"patient_id": ["P1"], "probability": [0.5]})
    ...     write_predictions_csv(table, Path(tmp) / "p.csv").read_text()
    'patient_id,probability\nP1,0.500000\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, float_format="%.6f")
    return path


# ====================================================================== command line
def add_arguments(parser: Any) -> None:
    """``python -m medkit predict``: one patient (JSON on stdout) or a manifest directory (CSV).

    Taught in chapter 7, section *One new patient, from files* (``notebooks/07_deployment.ipynb``).
    (``python -m medkit predict``)

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives ``medkit predict``'s bundle argument and options.

    Returns
    -------
    None
        ``parser`` is changed in place.

    Examples
    --------
    >>> import argparse
    >>> cli = argparse.ArgumentParser(prog="medkit predict")
    >>> add_arguments(cli)
    >>> cli.parse_args(["bundle", "--note", "No fever."]).note
    'No fever.'
    """
    parser.add_argument("bundle", help="a bundle directory written by medkit.deploy.export")
    parser.add_argument("--image", help="chest image (PNG, JPEG or DICOM; colour is converted to gray)")
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--note", help="the clinical note, as text")
    notes.add_argument("--note-file", help="a UTF-8 text file holding the clinical note")
    parser.add_argument("--audio", help="lung-sound recording (WAV, FLAC, ...; resampled down if needed)")
    parser.add_argument("--manifest", metavar="DIR",
                        help="predict every patient of DIR (images.csv, texts.csv, audios.csv; labels optional)")
    parser.add_argument("--out", default="predictions.csv", help="CSV written with --manifest (default %(default)s)")


def main(args: Any) -> int:
    """Exit 0 on success, 1 for a bundle that cannot be used, 2 for rejected input (batch: some rejected).

    Taught in chapter 7, section *One new patient, from files* (``notebooks/07_deployment.ipynb``).
    (``python -m medkit predict``)

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``medkit predict`` command line.

    Returns
    -------
    int
        0 on success, 1 for a bundle that cannot be used, 2 for rejected input.

    Examples
    --------
    >>> import argparse
    >>> cli = argparse.ArgumentParser(prog="medkit predict")
    >>> add_arguments(cli)
    >>> main(cli.parse_args(["no/such/bundle", "--note", "No fever."]))  # a bundle that cannot be used
    1
    """
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    single = any(v is not None for v in (args.image, args.note, args.note_file, args.audio))
    if args.manifest and single:
        print("medkit predict: give either --manifest or one patient's --image/--note/--audio, not both",
              file=sys.stderr)
        return 2
    if not args.manifest and not single:
        print("medkit predict: nothing to predict: give --image, --note (or --note-file), --audio, or --manifest",
              file=sys.stderr)
        return 2
    try:
        bundle = load(args.bundle)
    except BundleError as exc:
        print(f"medkit predict: {exc}", file=sys.stderr)
        return 1
    if args.manifest:
        from medkit.data import CohortError

        try:
            table = bundle.predict_manifest(args.manifest)
        except (CohortError, FileNotFoundError) as exc:
            print(f"medkit predict: {exc}", file=sys.stderr)
            return 2
        path = write_predictions_csv(table, args.out)
        rejected = table[table["error"] != ""]
        print(f"predicted {len(table) - len(rejected)} of {len(table)} patients into {path}", file=sys.stderr)
        for _, row in rejected.iterrows():
            print(f"  rejected {row['patient_id']}: {row['error']}", file=sys.stderr)
        return 2 if len(rejected) else 0
    note = args.note
    if args.note_file is not None:
        note_path = Path(args.note_file)
        try:
            note = note_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"medkit predict: note file {note_path} does not exist", file=sys.stderr)
            return 2
        except UnicodeDecodeError as exc:
            print(f"medkit predict: note file {note_path.name!r} is not UTF-8 text ({exc})", file=sys.stderr)
            return 2
        if not note.strip():
            print(f"medkit predict: note file {note_path.name!r} is empty", file=sys.stderr)
            return 2
    try:
        result = bundle.predict(image=args.image, note=note, audio=args.audio)
    except (InputError, FileNotFoundError) as exc:
        print(f"medkit predict: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0
