"""The generator: determinism, the bundled cohort, splits and honest notes."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from medkit import synth
from medkit.book import cli
from medkit.synth import file_hashes, generate_cohort

from data_fixtures import read_rows


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "a", n=12, seed=3)
    generate_cohort(tmp_path / "b", n=12, seed=3)
    hashes_a, hashes_b = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert len(hashes_a) == 12 * 2 + 3
    assert hashes_a == hashes_b


def test_other_seed_gives_other_patients(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "a", n=12, seed=0)
    generate_cohort(tmp_path / "b", n=12, seed=1)
    a, b = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert a["img/P0001.png"] != b["img/P0001.png"] and a["snd/P0001.wav"] != b["snd/P0001.wav"]


def test_bundled_cohort_is_what_the_generator_writes(tmp_path: Path, repo_root: Path) -> None:
    """Regenerate the whole bundled cohort (about 5 s) and compare every file's hash."""
    bundled = repo_root / "data_samples"
    generate_cohort(tmp_path / "regen", n=400, seed=0)
    assert file_hashes(tmp_path / "regen") == file_hashes(bundled)


def test_bundled_cohort_fits_the_size_budget(repo_root: Path) -> None:
    size = sum(p.stat().st_size for p in (repo_root / "data_samples").rglob("*") if p.is_file())
    assert size <= 25 * 1024 * 1024, f"data_samples is {size / 1e6:.1f} MB"


def test_cli_writes_a_cohort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["synth", "--out", str(tmp_path / "c"), "--n", "10", "--seed", "2"]) == 0
    assert "wrote 10 patients" in capsys.readouterr().out
    assert len(read_rows(tmp_path / "c" / "texts.csv")) == 10


def test_too_small_n_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n must be at least 10"):
        generate_cohort(tmp_path, n=3)


def test_splits_are_stratified_per_patient() -> None:
    labels = np.array([synth.draw_latent(0, i)["label"] for i in range(400)])
    splits = synth.assign_splits(labels, seed=0)
    for split, fraction in synth.SPLIT_FRACTIONS.items():
        mask = splits == split
        assert abs(mask.mean() - fraction) < 0.02
        assert abs(labels[mask].mean() - labels.mean()) < 0.03


def test_notes_never_state_the_diagnosis_and_negate_findings(repo_root: Path) -> None:
    rows = read_rows(repo_root / "data_samples" / "texts.csv")
    # "pneumonia" may appear only in history distractors, equally in both classes.
    history = re.compile(r"(Previous pneumonia \d{4}, fully recovered\.|Sister had pneumonia last winter\.)")
    for row in rows:
        assert "pneumonia" not in history.sub("", row["content"]).lower(), row["patient_id"]
    labels = np.array([int(r["label"]) for r in rows])
    mentions = np.array(["crackles" in r["content"].lower() for r in rows])
    negated = np.array([bool(re.search(r"\b(no|negative for)\b[^.]*crackles", r["content"], re.I)) for r in rows])
    # The keyword appears in both classes, and negated mentions exist in positive patients too.
    assert mentions[labels == 0].mean() > 0.3 and mentions[labels == 1].mean() > 0.3
    assert negated[labels == 1].any()


def test_images_and_sounds_have_the_documented_format(repo_root: Path) -> None:
    import cv2
    import soundfile as sf

    image = cv2.imread(str(repo_root / "data_samples" / "img" / "P0001.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (128, 128) and image.dtype == np.uint8
    info = sf.info(str(repo_root / "data_samples" / "snd" / "P0001.wav"))
    assert info.samplerate == 8000 and info.subtype == "PCM_16" and info.channels == 1
    assert 2.0 <= info.duration <= 3.2


def _bayes_auroc_by_integration(modalities) -> float:
    """The ceiling from the data card's Gaussian model by numerical integration (no simulation).

    With weights w_m = 1 / sigma_m^2 the Bayes score is T = W s + e, W = sum w_m, Var(e) = sum w_m.
    AUROC = P(T1 > T0 | y1 = 1, y0 = 0) = E[Phi(W (s1 - s0) / sqrt(2 Var(e)))] over s1 | y = 1 and s0 | y = 0.
    """
    from scipy import stats

    w = np.array([1 / synth.MODALITY_NOISE[m] ** 2 for m in modalities])
    big_w, noise_sd = w.sum(), np.sqrt((w ** 2 * np.array([synth.MODALITY_NOISE[m] ** 2 for m in modalities])).sum())
    s = np.linspace(-7, 7, 1401)
    p_pos = stats.norm.cdf((s - synth.LABEL_THRESHOLD) / synth.LABEL_NOISE)
    f1 = stats.norm.pdf(s) * p_pos
    f0 = stats.norm.pdf(s) * (1 - p_pos)
    f1, f0 = f1 / f1.sum(), f0 / f0.sum()
    pair = stats.norm.cdf(big_w * (s[:, None] - s[None, :]) / (np.sqrt(2) * noise_sd))
    return float(f1 @ pair @ f0)


@pytest.mark.parametrize("modalities", [("image",), ("text",), ("audio",), ("image", "text", "audio")])
def test_bayes_ceiling_matches_the_closed_form(modalities) -> None:
    simulated = synth.bayes_auroc(modalities)
    assert simulated == pytest.approx(_bayes_auroc_by_integration(modalities), abs=0.008)  # MC s.e. about 0.003


def test_bayes_ceiling_rejects_unknown_modalities() -> None:
    with pytest.raises(ValueError, match="choose one or more"):
        synth.bayes_auroc(("smell",))
