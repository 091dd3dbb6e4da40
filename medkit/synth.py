"""A synthetic multimodal pneumonia cohort: chest image, clinical note and lung sound per patient.

``python -m medkit synth --out DIR --n N --seed S`` writes::

    DIR/images.csv   patient_id, path, split
    DIR/texts.csv    patient_id, content, label, split
    DIR/audios.csv   patient_id, path, split, sample_rate, duration_s
    DIR/img/P0001.png ...   128x128 8-bit grayscale PNG
    DIR/snd/P0001.wav ...   8 kHz 16-bit PCM mono WAV, 2.0-3.2 s

How the data stays honest (see ``data_samples/README.md``):

* every patient has one latent severity ``s ~ N(0, 1)``; the label is
  ``s + N(0, LABEL_NOISE) > LABEL_THRESHOLD`` (label noise);
* each modality sees its own noisy copy ``s + N(0, MODALITY_NOISE[m])``, so each
  modality alone is informative but imperfect and the three are partly
  independent given the label: combining them helps;
* nuisance factors that a lazy model could use as a one-number shortcut are
  drawn independently of the severity: image mean brightness and contrast are
  re-normalised to random targets, the recording's RMS loudness is normalised
  to a random level, durations and note lengths do not depend on severity;
* notes never state the diagnosis, and findings are as often negated
  ("no crackles") as affirmed, so keyword matching fails.

``--shift`` (or ``generate_cohort(..., acquisition=SHIFTED)``) records the same kind of
patients as another site would: larger colour JPEGs, 16 kHz recordings of other lengths
and loudness, notes in another clinician's shorthand (chapter 7's dataset shift). Each
option of :class:`Acquisition` can also be set alone (``--image-size``, ``--colour``,
``--sample-rate``, ``--durations``, ``--loudness``, ``--note-style``, ``--image-format``).

Every patient's files come from a random generator seeded with
``(seed, patient_index, modality)``: the same seed gives byte-identical files,
and patient ``P0007`` is the same in a cohort of 40 and one of 400.

Examples
--------
>>> from medkit.synth import generate_cohort
>>> summary = generate_cohort("/tmp/cohort", n=20, seed=0)  # doctest: +SKIP
>>> summary["n_patients"]  # doctest: +SKIP
20
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from medkit.data import MODALITIES
from medkit.losses import sigmoid

IMAGE_SIZE = 128
SAMPLE_RATE = 8000
DURATION_RANGE_S = (2.0, 3.2)
LABEL_NOISE = 0.35
LABEL_THRESHOLD = 0.3
# Standard deviation of each modality's private noise around the latent severity.
MODALITY_NOISE = {"image": 0.8, "text": 1.0, "audio": 0.75}
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
_MODALITY_STREAM = {"latent": 0, "image": 1, "text": 2, "audio": 3, "split": 4}


def _rng(seed: int, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, index, _MODALITY_STREAM[stream]])


# ------------------------------------------------------------------ latent variables
def draw_latent(seed: int, index: int) -> dict[str, float]:
    """The hidden variables of patient ``index``: severity, label and each modality's view of it.

    Taught in chapter 5, section *Lung sounds* (``notebooks/05_modalities.ipynb``) (the views pick a clear
    normal and abnormal recording), and behind chapter 6's *How far can any model
    go?* (:func:`bayes_auroc`).

    Parameters
    ----------
    seed : int
        The cohort's seed.
    index : int
        The patient's position (``P0001`` is 0).

    Returns
    -------
    dict of str to float
        ``severity``, ``label`` (0/1) and ``image``, ``text``, ``audio`` (the views).

    Examples
    --------
    >>> latent = draw_latent(0, 0)
    >>> sorted(latent), latent["label"]
    (['audio', 'image', 'label', 'severity', 'text'], 0)
    """
    rng = _rng(seed, index, "latent")
    severity = float(rng.normal())
    label = int(severity + rng.normal(0.0, LABEL_NOISE) > LABEL_THRESHOLD)
    views = {m: float(severity + rng.normal(0.0, sd)) for m, sd in MODALITY_NOISE.items()}
    return {"severity": severity, "label": label, **views}


@functools.lru_cache(maxsize=4)
def _latent_table(seed: int, n: int) -> dict[str, np.ndarray]:
    latents = [draw_latent(seed, i) for i in range(n)]
    return {key: np.array([p[key] for p in latents]) for key in latents[0]}


def bayes_auroc(modalities: "tuple[str, ...] | list[str]" = MODALITIES, n: int = 20000,
                seed: int = 12345) -> float:
    """The best AUROC any model can reach from ``modalities``: the cohort's Bayes ceiling.

    Every file of a modality is drawn from that modality's noisy view
    ``s + N(0, MODALITY_NOISE[m])`` of the severity alone, so no model of the
    files can know more than the views. Given the views, the probability of the
    label rises with the posterior mean of the severity, which is proportional
    to ``sum_m view_m / MODALITY_NOISE[m]**2``; the AUROC of that score is the
    ceiling. It is estimated on ``n`` patients drawn with :func:`draw_latent`
    itself (Monte-Carlo standard error about 0.003 for ``n = 20000``); ``seed``
    is kept apart from the bundled cohort's.

    Taught in chapter 6, section *How far can any model go?* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    modalities : sequence of str
        Subset of ``("image", "text", "audio")`` (:data:`medkit.data.MODALITIES`).
    n : int
        Simulated patients.
    seed : int
        Seed of the simulation.

    Returns
    -------
    float
        The ceiling, in [0.5, 1].

    Examples
    --------
    >>> round(bayes_auroc(("text",), n=4000), 2)
    0.81
    """
    unknown = [m for m in modalities if m not in MODALITY_NOISE]
    if not modalities or unknown:
        raise ValueError(f"modalities {list(modalities)}: choose one or more of {list(MODALITY_NOISE)}.")
    if n < 100:
        raise ValueError(f"n={n} patients is too few for a Monte-Carlo AUROC; use at least 100.")
    table = _latent_table(seed, n)
    labels = table["label"]
    score = sum(table[m] / MODALITY_NOISE[m] ** 2 for m in modalities)
    ranks = np.argsort(np.argsort(score)) + 1.0  # continuous scores: no ties
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ------------------------------------------------------------------ image
def _ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, rx: float, ry: float,
             edge: float = 0.06) -> np.ndarray:
    """A soft-edged ellipse mask in [0, 1] (soft edges avoid aliasing and look like anatomy)."""
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1.0 - r) / edge + 0.5, 0.0, 1.0)


def render_image(view: float, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """A chest-X-ray-like uint8 image; opacities grow in number, size and density with ``view``.

    Taught in chapter 5, section *Images* (``notebooks/05_modalities.ipynb``) (the images it draws).

    Parameters
    ----------
    view : float
        The image's view of the severity: larger, denser opacities as it grows.
    rng : numpy.random.Generator
        The patient's image stream.
    size : int
        Side in pixels.

    Returns
    -------
    ndarray of uint8, shape (size, size)
        A gray chest image.

    Examples
    --------
    >>> img = render_image(1.0, np.random.default_rng(0))
    >>> img.shape, img.dtype
    ((128, 128), dtype('uint8'))
    """
    import cv2

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # Patient positioning varies: shift and scale the whole thorax a little.
    dx, dy = rng.normal(0, 0.02, size=2)
    scale = rng.uniform(0.92, 1.05)
    xx_p = (xx - 0.5 - dx) / scale + 0.5
    yy_p = (yy - 0.5 - dy) / scale + 0.5

    img = np.full((size, size), 0.06)
    body = _ellipse(xx_p, yy_p, 0.5, 0.56, 0.47, 0.55)
    img += 0.5 * body
    lung_l = _ellipse(xx_p, yy_p, 0.31, 0.47, 0.15 + rng.normal(0, 0.01), 0.30, edge=0.15)
    lung_r = _ellipse(xx_p, yy_p, 0.69, 0.47, 0.15 + rng.normal(0, 0.01), 0.30, edge=0.15)
    lungs = np.clip(lung_l + lung_r, 0, 1)
    img -= 0.36 * lungs
    mediastinum = np.clip((0.075 - np.abs(xx_p - 0.5)) / 0.02 + 0.5, 0, 1) * (yy_p > 0.08) * (yy_p < 0.85)
    img += 0.3 * mediastinum
    heart = _ellipse(xx_p, yy_p, 0.56, 0.66, 0.14, 0.11, edge=0.2)
    img += 0.28 * heart * (1 - 0.3 * mediastinum)
    # Rib bands: bright curved stripes inside the lung fields.
    rib_freq = rng.uniform(8.5, 10.5)
    rib_phase = rng.uniform(0, 2 * np.pi)
    ribs = np.maximum(0.0, np.cos(2 * np.pi * rib_freq * (yy_p + 0.6 * (xx_p - 0.5) ** 2) + rib_phase)) ** 3
    img += 0.09 * ribs * lungs

    # Opacities: Gaussian blobs inside the lung fields (pneumonic consolidation).
    strength = float(sigmoid(1.6 * view))
    n_opacities = int(rng.poisson(0.2 + 4.0 * strength ** 2))
    opacity = np.zeros_like(img)
    for _ in range(n_opacities):
        cx = rng.choice([0.31, 0.69]) + rng.normal(0, 0.06)
        cy = 0.5 + rng.normal(0, 0.13)
        sigma = 0.03 + 0.06 * strength * rng.uniform(0.5, 1.5)
        density = 0.2 + 0.35 * strength * rng.uniform(0.5, 1.2)
        opacity += density * np.exp(-(((xx_p - cx) ** 2 + (yy_p - cy) ** 2) / (2 * sigma ** 2)))
    img += np.minimum(opacity, 0.4) * lungs

    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.2).astype(np.float64)
    img += rng.normal(0, rng.uniform(0.015, 0.035), size=img.shape)
    img = np.clip(img, 0, 1) ** rng.uniform(0.8, 1.25)  # exposure / detector response
    # Remove any global brightness/contrast signal: re-normalise to random targets
    # drawn independently of the severity (the MONAI-tutorial shortcut).
    img = (img - img.mean()) / (img.std() + 1e-8)
    img = img * rng.uniform(0.17, 0.23) + rng.uniform(0.38, 0.5)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ text
_COMPLAINTS_SEVERITY = ["cough", "shortness of breath", "fever", "chest tightness", "productive cough"]
_COMPLAINTS_NEUTRAL = ["fatigue", "headache", "poor appetite", "back pain", "a sore throat", "dizziness"]
# finding -> (bias, affirmed phrasings, negated phrasings)
_FINDINGS: dict[str, tuple[float, list[str], list[str]]] = {
    "fever": (0.0, ["Reports fever and chills.", "Febrile at home, took paracetamol.", "Fevers overnight."],
              ["Denies fever.", "No fever or chills reported.", "Afebrile at home per patient."]),
    "sputum": (0.2, ["Cough productive of yellow sputum.", "Green sputum for two days.", "Productive cough."],
               ["Cough is dry, no sputum.", "No sputum production noticed.",
                "Denies any sputum production."]),
    "dyspnoea": (-0.3, ["Short of breath on minimal exertion.", "Reports dyspnoea at rest.",
                        "Breathless when talking."],
                 ["Denies shortness of breath.", "No dyspnoea, even on exertion.",
                  "Not breathless at rest or walking."]),
    "crackles": (-0.4, ["Crackles heard at the right base.", "Coarse crackles over the left lower zone.",
                        "Bibasal crackles on auscultation."],
                 ["No crackles at either lung base.", "Chest clear, no crackles or wheeze.",
                  "Negative for crackles on auscultation."]),
    "dullness": (-0.9, ["Dull to percussion at the left base.", "Reduced air entry and dullness on the right."],
                 ["Resonant to percussion throughout both sides.", "No dullness to percussion at either base."]),
    "consolidation": (-1.0, ["Bedside ultrasound shows an area of consolidation.",
                             "Ultrasound: subpleural consolidation, right lower zone."],
                      ["Negative for consolidation on bedside lung ultrasound.",
                       "No consolidation seen on bedside ultrasound today."]),
    "pleuritic": (-0.8, ["Pleuritic chest pain on deep inspiration.", "Sharp pain on breathing in."],
                  ["No pleuritic pain on deep breaths.", "Denies any chest pain on breathing."]),
}
_DISTRACTORS = [
    "History of hypertension.", "Type 2 diabetes, diet controlled.", "Previous pneumonia {year}, fully recovered.",
    "Pneumococcal vaccine up to date.", "Lives alone, independent.", "Non-smoker.", "Ex-smoker, {packs} pack-years.",
    "Asthma in childhood.", "Allergic to penicillin.", "Family history of COPD.", "Works as a {job}.",
    "Sister had pneumonia last winter.", "Recently returned from a trip abroad.",
]
_JOBS = ["teacher", "nurse", "driver", "farmer", "cook", "cleaner", "engineer", "student"]
_PLANS = ["Plan: review after tests.", "Plan: bloods and observation.", "Discussed with the senior doctor.",
          "Safety-netting advice given.", "Plan: reassess in four hours.", "Plan: chest imaging requested."]


def write_note(view: float, rng: np.random.Generator) -> str:
    """A free-text clinical note whose findings and vitals depend on ``view``; never states the diagnosis.

    Taught in chapter 5, section *Clinical notes* (``notebooks/05_modalities.ipynb``) (the notes it writes).

    Parameters
    ----------
    view, rng : float, numpy.random.Generator
        The note's view of the severity (:func:`draw_latent`) and the patient's text stream.

    Returns
    -------
    str
        The note, several sentences.

    Examples
    --------
    >>> write_note(0.5, np.random.default_rng(0)).split(".")[0]
    '79-year-old woman presenting with shortness of breath for 4 days'
    """
    age = int(rng.integers(19, 90))
    sex = str(rng.choice(["man", "woman"]))
    days = int(rng.integers(1, 8))
    if rng.random() < float(sigmoid(0.8 * view)):
        complaint = str(rng.choice(_COMPLAINTS_SEVERITY))
    else:
        complaint = str(rng.choice(_COMPLAINTS_NEUTRAL))
    span = f"{days} day" if days == 1 else f"{days} days"
    opening = str(rng.choice([
        f"{age}-year-old {sex} presenting with {complaint} for {span}.",
        f"{age} y/o {sex}, {span} of {complaint}.",
        f"Seen today: {age}-year-old {sex} with {complaint} that started {span} ago.",
    ]))
    temperature = 37.0 + 0.45 * view + rng.normal(0, 0.5)
    spo2 = int(np.clip(round(96.5 - 1.3 * view + rng.normal(0, 1.6)), 82, 100))
    resp_rate = int(np.clip(round(17 + 2.0 * view + rng.normal(0, 2.5)), 10, 40))
    heart_rate = int(np.clip(round(rng.normal(85, 12)), 50, 140))  # deliberately uninformative
    vitals = str(rng.choice([
        f"T {temperature:.1f} C, SpO2 {spo2}% on air, RR {resp_rate}, HR {heart_rate}.",
        f"Obs: temp {temperature:.1f}, sats {spo2}%, resp rate {resp_rate}/min, pulse {heart_rate}.",
    ]))
    history_findings, exam_findings = [], []
    for name, (bias, affirmed, negated) in _FINDINGS.items():
        if rng.random() > 0.75:  # not every finding is documented
            continue
        present = rng.random() < float(sigmoid(1.4 * view + bias))
        phrase = str(rng.choice(affirmed if present else negated))
        (exam_findings if name in {"crackles", "dullness", "consolidation"} else history_findings).append(phrase)
    rng.shuffle(history_findings)
    rng.shuffle(exam_findings)
    distractors = [str(d).format(year=int(rng.integers(2005, 2024)), packs=int(rng.integers(5, 40)),
                                 job=str(rng.choice(_JOBS)))
                   for d in rng.choice(_DISTRACTORS, size=int(rng.integers(1, 3)), replace=False)]
    # Findings first, history and plan last: a model truncating long notes loses the least informative part.
    parts = [opening, *history_findings, "On examination:", *exam_findings, vitals, *distractors,
             str(rng.choice(_PLANS))]
    return " ".join(parts)


# ------------------------------------------------------------------ audio
def _damped_tone(freq: float, duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(duration_s * sr)) / sr
    envelope = np.exp(-t / (duration_s / 3.0))
    return envelope * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))


def render_sound(view: float, rng: np.random.Generator, sr: int = SAMPLE_RATE,
                 duration_range: tuple[float, float] = DURATION_RANGE_S,
                 loudness_range: tuple[float, float] = (0.06, 0.12)) -> np.ndarray:
    """An auscultation-like float recording in [-1, 1]: breath noise, crackles and wheezes.

    Fine crackles (about 5 ms near 650 Hz) and coarse crackles (about 15 ms near
    350 Hz) are damped transients in inspiration; wheezes are tones of 400 Hz or
    more lasting 80 ms or more in expiration. Their rates grow with ``view``.
    ``duration_range`` (seconds) and ``loudness_range`` (RMS) are the recording
    device's, not the disease's (another site: :data:`SHIFTED`).

    Taught in chapter 5, section *Lung sounds* (``notebooks/05_modalities.ipynb``) (the recordings it draws).

    Parameters
    ----------
    view : float
        What the stethoscope hears of the severity (:func:`draw_latent`).
    rng : numpy.random.Generator
        The patient's audio stream (every random choice of the recording).
    sr : int
        Sample rate, Hz.
    duration_range, loudness_range : tuple of float
        Ranges of the duration (s) and RMS level.

    Returns
    -------
    ndarray of float32
        Samples in [-1, 1] at ``sr`` Hz.

    Examples
    --------
    >>> y = render_sound(0.0, np.random.default_rng(0))
    >>> y.dtype, 2.0 <= len(y) / 8000 <= 3.2
    (dtype('float32'), True)
    """
    from scipy.signal import butter, sosfilt

    duration = float(np.round(rng.uniform(*duration_range), 2))
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    period = rng.uniform(1.3, 1.9)
    phase = ((t / period) + rng.uniform(0, 1)) % 1.0
    inspiration = phase < 0.4
    envelope = np.where(inspiration, np.sin(np.pi * phase / 0.4), 0.6 * np.sin(np.pi * (phase - 0.4) / 0.6))
    low, high = rng.uniform(120, 200), rng.uniform(500, 800)
    sos = butter(4, [low, high], btype="bandpass", fs=sr, output="sos")
    breath = sosfilt(sos, rng.normal(size=n))
    breath /= breath.std() + 1e-8
    y = breath * (0.15 + envelope)

    strength = float(sigmoid(1.6 * view))
    insp_idx = np.flatnonzero(inspiration)
    exp_idx = np.flatnonzero(~inspiration)
    for _kind, freq, length, rate in (("fine", 650.0, 0.005, 14.0), ("coarse", 350.0, 0.015, 6.0)):
        count = int(rng.poisson(rate * duration * strength ** 2))
        for _ in range(count):
            start = int(rng.choice(insp_idx)) if len(insp_idx) else int(rng.integers(0, n))
            click = rng.uniform(4.0, 8.0) * _damped_tone(freq * rng.uniform(0.9, 1.1), length, sr, rng)
            stop = min(n, start + len(click))
            y[start:stop] += click[: stop - start]
    n_wheezes = int(rng.poisson(2.0 * duration * strength ** 2))
    for _ in range(n_wheezes):
        length = rng.uniform(0.08, 0.25)
        m = int(length * sr)
        start = int(rng.choice(exp_idx)) if len(exp_idx) else int(rng.integers(0, n))
        f0 = rng.uniform(400, 900)
        glide = np.linspace(0, rng.uniform(-60, 60), m)
        tone = np.sin(2 * np.pi * np.cumsum(f0 + glide) / sr) * np.hanning(m) * rng.uniform(1.0, 2.0)
        stop = min(n, start + m)
        y[start:stop] += tone[: stop - start]
    y += rng.normal(0, rng.uniform(0.05, 0.35), size=n)  # stethoscope / room noise
    # Loudness is set by the stethoscope gain, not by the disease: normalise RMS to a random level.
    y = y / (np.sqrt(np.mean(y ** 2)) + 1e-8) * rng.uniform(*loudness_range)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------ another site (dataset shift)
NOTE_STYLES = ("standard", "terse")


@dataclass(frozen=True)
class Acquisition:
    """How a site records its patients; the defaults are the bundled cohort's (byte-identical output).

    Taught in chapter 7, section *Another site: the same disease, recorded differently*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    image_size : int
        Side of the square image in pixels.
    image_format : str
        ``"png"`` (lossless) or ``"jpeg"`` (quality 90, lossy).
    colour : bool
        Save a colour image through :func:`colourise` (another scanner's display
        look-up table: warm tint, lifted blacks, a different gray response).
    sample_rate : int
        Recording sample rate in Hz (the sound is rendered at that rate).
    duration_range : tuple of float
        Range of recording durations in seconds.
    loudness_range : tuple of float
        Range of the recordings' RMS level (the stethoscope's gain).
    note_style : str
        ``"standard"`` or ``"terse"`` (another clinician's abbreviations, :func:`restyle_note`).

    Examples
    --------
    >>> Acquisition().sample_rate, SHIFTED.sample_rate
    (8000, 16000)
    """

    image_size: int = IMAGE_SIZE
    image_format: str = "png"
    colour: bool = False
    sample_rate: int = SAMPLE_RATE
    duration_range: tuple[float, float] = DURATION_RANGE_S
    loudness_range: tuple[float, float] = (0.06, 0.12)
    note_style: str = "standard"

    def __post_init__(self) -> None:
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {self.image_size}")
        if self.image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', got {self.image_format!r}")
        if self.sample_rate < 4000:
            raise ValueError(f"sample_rate must be at least 4000 Hz (wheezes reach 900 Hz), got {self.sample_rate}")
        low, high = self.duration_range
        if not 0.5 <= low <= high:
            raise ValueError(f"duration_range must be (min, max) with 0.5 <= min <= max seconds, "
                             f"got {self.duration_range}")
        low, high = self.loudness_range
        if not 0.0 < low <= high <= 0.5:
            raise ValueError(f"loudness_range must be (min, max) RMS with 0 < min <= max <= 0.5, "
                             f"got {self.loudness_range}")
        if self.note_style not in NOTE_STYLES:
            raise ValueError(f"note_style must be one of {list(NOTE_STYLES)}, got {self.note_style!r}")


#: Another hospital: larger colour JPEGs from another scanner, 16 kHz recordings of 3.5-5 s from a
#: louder electronic stethoscope, and notes written in another clinician's abbreviations.
SHIFTED = Acquisition(image_size=192, image_format="jpeg", colour=True, sample_rate=16000,
                      duration_range=(3.5, 5.0), loudness_range=(0.15, 0.3), note_style="terse")

# Another clinician's shorthand (applied in this order, whole words, case-insensitive). Each keeps the
# meaning a clinician would read, in words the bundled notes never use.
_TERSE = [
    (r"(\d+)-year-old (man|woman) presenting with", r"\1yo \2 c/o"),
    (r"(\d+) y/o", r"\1yo"), (r"(\d+)-year-old", r"\1yo"), (r"Seen today:", "Pt:"),
    (r"shortness of breath", "SOB"), (r"short of breath", "SOB"), (r"breathless", "SOB"),
    (r"dyspnoea", "SOB"), (r"fevers?", "pyrexia"), (r"febrile", "pyrexial"), (r"afebrile", "apyrexial"),
    (r"chills", "rigors"), (r"crackles", "creps"), (r"sputum", "phlegm"), (r"productive", "wet"),
    (r"consolidation", "consol"), (r"ultrasound", "POCUS"), (r"percussion", "perc"),
    (r"auscultation", "ausc"), (r"On examination:", "O/E:"), (r"denies( any)?", "nil"),
    (r"no", "nil"), (r"negative for", "neg"), (r"reports", "c/o"), (r"pain", "pn"),
    (r"patient", "pt"), (r"days", "/7"), (r"Plan:", "Imp:"),
]

def restyle_note(note: str) -> str:
    """Rewrite a note in another clinician's shorthand ("no crackles" -> "nil creps").

    Deterministic; the findings, negations and vitals stay (a clinician reads
    the same facts), but most of the words the bundled notes use are replaced
    by abbreviations a model trained on them has never seen.

    Taught in chapter 7, section *Another site: the same disease, recorded differently*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    note : str
        A note as :func:`write_note` writes it.

    Returns
    -------
    str
        The same facts in shorthand.

    Examples
    --------
    >>> restyle_note("Denies fever. No crackles at either lung base. On examination: dull.")
    'nil pyrexia. nil creps at either lung base. O/E: dull.'
    """
    import re

    for pattern, replacement in _TERSE:
        note = re.sub(rf"(?<![\w/-]){pattern}(?![\w-])", replacement, note, flags=re.IGNORECASE)
    return note


def colourise(gray: np.ndarray) -> np.ndarray:
    """Another scanner's display: a BGR uint8 image with a warm tint, lifted blacks and gamma 0.7.

    Taught in chapter 7, section *Another site: the same disease, recorded differently*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    gray : ndarray of uint8
        ``(H, W)`` gray image.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        The image in OpenCV's blue-green-red order.

    Examples
    --------
    >>> colourise(np.zeros((4, 4), np.uint8))[0, 0].tolist()
    [24, 28, 31]
    """
    unit = gray.astype(np.float64) / 255.0
    lifted = 0.12 + 0.8 * unit ** 0.7
    bgr = np.stack([0.78 * lifted, 0.92 * lifted, 1.0 * lifted], axis=-1)  # OpenCV's order: blue, green, red
    return np.clip(np.round(bgr * 255), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ splits and writing
def assign_splits(labels: np.ndarray, seed: int) -> np.ndarray:
    """Per-patient train/val/test split, stratified by label (fractions in ``SPLIT_FRACTIONS``).

    Taught in chapter 5, section *The article's program, mapped to the kit* (``notebooks/05_modalities.ipynb``)
    (the ``split`` column replaces the article's ``train_test_split``).

    Parameters
    ----------
    labels : ndarray
        0/1 label per patient.
    seed : int
        The cohort's seed.

    Returns
    -------
    ndarray of str
        ``"train"``, ``"val"`` or ``"test"`` per patient.

    Examples
    --------
    >>> splits = assign_splits(np.array([0, 1] * 10), seed=0)
    >>> [int((splits == s).sum()) for s in ("train", "val", "test")]
    [12, 4, 4]
    """
    rng = np.random.default_rng([seed, 0, _MODALITY_STREAM["split"]])
    splits = np.empty(len(labels), dtype=object)
    for value in (0, 1):
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        n_train = int(round(SPLIT_FRACTIONS["train"] * len(idx)))
        n_val = int(round(SPLIT_FRACTIONS["val"] * len(idx)))
        splits[idx[:n_train]] = "train"
        splits[idx[n_train:n_train + n_val]] = "val"
        splits[idx[n_train + n_val:]] = "test"
    return splits.astype(str)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv

    # csv with "\n" line endings and minimal quoting: byte-identical on every platform.
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate_cohort(out: str | Path, n: int = 400, seed: int = 0,
                    acquisition: Acquisition | None = None) -> dict[str, Any]:
    """Write ``n`` synthetic patients under ``out`` (manifests, ``img/``, ``snd/``); return a summary.

    ``acquisition`` changes how the files are recorded, not who the patients are
    or their labels: ``SHIFTED`` writes the same kind of patients as another
    site would record them (chapter 7's dataset shift). The default writes the
    bundled cohort, byte for byte.

    Taught in chapter 5, section *The data card* (``notebooks/05_modalities.ipynb``) (``python -m medkit synth``)
    and chapter 7, section *Another site: the same disease, recorded differently* (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    out : str or Path
        Directory to write into (created).
    n : int
        Patients, at least 10.
    seed : int
        The cohort's seed.
    acquisition : Acquisition, optional
        How the files are recorded (default: the bundled cohort's).

    Returns
    -------
    dict
        ``n_patients``, ``seed``, ``n_positive``, ``splits`` (counts) and ``bytes`` written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_cohort(tmp, n=12, seed=1, acquisition=SHIFTED)
    ...     sorted(p.name for p in Path(tmp).iterdir())
    ['audios.csv', 'images.csv', 'img', 'snd', 'texts.csv']
    >>> summary["n_patients"], sum(summary["splits"].values())
    (12, 12)
    """
    import cv2
    import soundfile as sf

    if n < 10:
        raise ValueError(f"n must be at least 10 so every split gets both classes, got {n}")
    acq = acquisition if acquisition is not None else Acquisition()
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "snd").mkdir(parents=True, exist_ok=True)
    ids = [f"P{i + 1:04d}" for i in range(n)]
    latents = [draw_latent(seed, i) for i in range(n)]
    labels = np.array([lat["label"] for lat in latents])
    splits = assign_splits(labels, seed)
    image_rows, text_rows, audio_rows = [], [], []
    suffix, params = (".png", [cv2.IMWRITE_PNG_COMPRESSION, 9]) if acq.image_format == "png" else \
        (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
    for i, (pid, lat) in enumerate(zip(ids, latents, strict=True)):
        image = render_image(lat["image"], _rng(seed, i, "image"), size=acq.image_size)
        if acq.colour:
            image = colourise(image)
        image_rel = f"img/{pid}{suffix}"
        if not cv2.imwrite(str(out / image_rel), image, params):
            raise OSError(f"could not write {out / image_rel}")
        note = write_note(lat["text"], _rng(seed, i, "text"))
        if acq.note_style == "terse":
            note = restyle_note(note)
        sound = render_sound(lat["audio"], _rng(seed, i, "audio"), sr=acq.sample_rate,
                             duration_range=acq.duration_range, loudness_range=acq.loudness_range)
        audio_rel = f"snd/{pid}.wav"
        sf.write(out / audio_rel, sound, acq.sample_rate, subtype="PCM_16", format="WAV")
        image_rows.append([pid, image_rel, splits[i]])
        text_rows.append([pid, note, lat["label"], splits[i]])
        audio_rows.append([pid, audio_rel, splits[i], acq.sample_rate, f"{len(sound) / acq.sample_rate:.2f}"])
    _write_csv(out / "images.csv", ["patient_id", "path", "split"], image_rows)
    _write_csv(out / "texts.csv", ["patient_id", "content", "label", "split"], text_rows)
    _write_csv(out / "audios.csv", ["patient_id", "path", "split", "sample_rate", "duration_s"], audio_rows)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "n_patients": n, "seed": seed, "n_positive": int(labels.sum()),
        "splits": {s: int((splits == s).sum()) for s in SPLIT_FRACTIONS}, "bytes": int(size),
    }


def file_hashes(data_dir: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``data_dir`` except the data card (for determinism checks).

    Taught in chapter 5, section *The data card* (``notebooks/05_modalities.ipynb``): the same seed
    writes the same bytes.

    Parameters
    ----------
    data_dir : str or Path
        A cohort directory.

    Returns
    -------
    dict of str to str
        Relative path to hexadecimal digest.

    Examples
    --------
    >>> from medkit.data import DEFAULT_DATA_DIR
    >>> hashes = file_hashes(DEFAULT_DATA_DIR)
    >>> len(hashes), "texts.csv" in hashes
    (803, True)
    """
    root = Path(data_dir)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"
    }


# ------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m medkit synth`` (the cohort and, with ``--shift``, another site).

    Taught in chapter 5, section *The data card* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.

    Returns
    -------
    None
        The options are added to ``parser``.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--out", "cohort", "--n", "40"]).n
    40
    """
    parser.add_argument("--out", required=True, help="directory to write the cohort into")
    parser.add_argument("--n", type=int, default=400, help="number of patients (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    shift = parser.add_argument_group("another site (dataset shift; defaults: the bundled cohort's)")
    shift.add_argument("--shift", action="store_true",
                       help="record as another site would (medkit.synth.SHIFTED: 192 px colour JPEGs, 16 kHz "
                            "recordings of 3.5-5 s, louder, terse notes); the options below override parts of it")
    shift.add_argument("--image-size", type=int, help="image side in pixels (default 128)")
    shift.add_argument("--image-format", choices=["png", "jpeg"], help="image file format (default png)")
    shift.add_argument("--colour", action=argparse.BooleanOptionalAction, default=None,
                       help="colour images through another scanner's look-up table (default: grayscale)")
    shift.add_argument("--sample-rate", type=int, help="recording sample rate in Hz (default 8000)")
    shift.add_argument("--durations", type=float, nargs=2, metavar=("MIN", "MAX"),
                       help="range of recording durations in seconds (default 2.0 3.2)")
    shift.add_argument("--loudness", type=float, nargs=2, metavar=("MIN", "MAX"),
                       help="range of the recordings' RMS level (default 0.06 0.12)")
    shift.add_argument("--note-style", choices=list(NOTE_STYLES), help="note phrasing (default standard)")


def acquisition_from_args(args: argparse.Namespace) -> Acquisition:
    """The :class:`Acquisition` the command-line options describe.

    ``--shift`` starts from :data:`SHIFTED`; the other options override parts of it.

    Taught in chapter 7, section *Another site: the same disease, recorded differently*
    (``notebooks/07_deployment.ipynb``), as ``python -m medkit synth --shift``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (options of :func:`add_arguments`; missing ones keep the defaults).

    Returns
    -------
    Acquisition
        The site's recording settings.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> acquisition_from_args(parser.parse_args(["--out", "x", "--shift", "--sample-rate", "22050"])).sample_rate
    22050
    """
    base = SHIFTED if getattr(args, "shift", False) else Acquisition()
    options = {"image_size": "image_size", "image_format": "image_format", "colour": "colour",
               "sample_rate": "sample_rate", "durations": "duration_range", "loudness": "loudness_range",
               "note_style": "note_style"}
    changes = {field: getattr(args, option) for option, field in options.items()
               if getattr(args, option, None) is not None}
    for key in ("duration_range", "loudness_range"):
        if key in changes:
            changes[key] = tuple(changes[key])
    assert set(changes) <= {f.name for f in fields(Acquisition)}
    return replace(base, **changes)


def main(args: argparse.Namespace) -> int:
    """``python -m medkit synth``: write a cohort and print a one-line summary; 0 on success, 2 on bad options.

    Taught in chapter 5, section *The data card* (``notebooks/05_modalities.ipynb``).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`add_arguments`.

    Returns
    -------
    int
        The exit status.

    Examples
    --------
    >>> import tempfile
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     main(parser.parse_args(["--out", tmp, "--n", "10"]))  # doctest: +ELLIPSIS
    wrote 10 patients (... positive) to ...: splits {'train': ..., 'val': ..., 'test': ...}, ... MB
    0
    """
    try:
        acquisition = acquisition_from_args(args)
    except ValueError as exc:
        print(f"medkit synth: {exc}", file=sys.stderr)
        return 2
    summary = generate_cohort(args.out, n=args.n, seed=args.seed, acquisition=acquisition)
    site = "" if acquisition == Acquisition() else f" as recorded at another site ({acquisition})"
    print(f"wrote {summary['n_patients']} patients ({summary['n_positive']} positive) to {args.out}{site}: "
          f"splits {summary['splits']}, {summary['bytes'] / 1e6:.1f} MB")
    return 0
