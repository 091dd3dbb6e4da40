"""medkit.deploy and ``medkit predict``: the bundle, its checks, portability, skew, bad input, shift, model card.

One small model is trained once per module (a 60-patient cohort, smoke-sized branches) and exported;
the tests then use it the way a new user would. Oracles are independent of medkit's serving code:
plain TensorFlow in a fresh process for the SavedModel, ``train.predict`` on the training features
for the skew tests, scikit-learn for the card's metrics, scipy for the shift statistics.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from medkit import data, deploy, models, synth, train
from medkit.book import cli

from data_fixtures import read_rows, write_rows

REPO = Path(__file__).resolve().parents[1]
PARAMS = dict(image_size=32, text_len=24, n_mfcc=12)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 60-patient cohort, its features, a trained late-fusion model and its exported bundle."""
    root = tmp_path_factory.mktemp("deploy")
    cohort_dir = root / "cohort"
    synth.generate_cohort(cohort_dir, n=60, seed=3)
    cohort = data.load_cohort(cohort_dir)
    features = data.featurize(cohort, cache_dir=root / "cache", **PARAMS)
    splits = {s: features.split(s) for s in ("train", "val", "test")}
    config = models.config_from_arrays(splits["train"], vocab_size=len(features.vocabulary) + 2,
                                       fusion="late", embed_dim=8, fusion_dim=8, ff_dim=16, seed=0)
    run = train.fit(config, splits["train"], splits["val"], epochs=2, batch_size=16, seed=0, patience=2,
                    verbose=0)
    bundle_dir = deploy.export(run, features, root / "bundle", cohort, n_boot=50)
    return {"root": root, "cohort": cohort, "features": features, "splits": splits, "run": run,
            "bundle_dir": bundle_dir, "bundle": deploy.load(bundle_dir)}


def _copy_bundle(trained, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained["bundle_dir"], tmp_path / "bundle"))


def _rehash(bundle_dir: Path, name: str) -> None:
    """Record a deliberately edited file's new hash, to reach the checks behind the hash check."""
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((bundle_dir / name).read_bytes()).hexdigest()
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))


# ------------------------------------------------------------------ the bundle


def test_bundle_holds_everything_preprocessing_needs(trained):
    bundle_dir, features, cohort = trained["bundle_dir"], trained["features"], trained["cohort"]
    for name in ("model.keras", "preprocessing.json", "reference.npz", "model_card.md", "model_card.json",
                 "manifest.json", "saved_model/saved_model.pb"):
        assert (bundle_dir / name).is_file(), name
    prep = json.loads((bundle_dir / "preprocessing.json").read_text())
    assert prep["image_size"] == 32 and prep["text_len"] == 24 and prep["n_mfcc"] == 12
    assert prep["sr"] == 8000 and prep["duration"] == 3.0 and prep["hop_length"] == 256
    assert {t: i + 2 for i, t in enumerate(prep["vocabulary"])} == features.vocabulary
    config = trained["run"].config
    assert prep["image_mean"] == pytest.approx(config.image_mean)
    assert prep["audio_std"] == pytest.approx(config.audio_std)
    # The threshold is Youden's J on the validation split, recomputed here with scikit-learn.
    from sklearn.metrics import roc_curve

    val = trained["splits"]["val"]
    fpr, tpr, thr = roc_curve(val["label"], train.predict(trained["run"].model, val))
    assert prep["threshold"] == pytest.approx(float(thr[np.argmax(tpr - fpr)]))

    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["format"] == deploy.BUNDLE_FORMAT
    assert manifest["versions"]["medkit"] and manifest["versions"]["tensorflow"] and manifest["versions"]["keras"]
    assert "commit" in manifest["git"]
    assert manifest["config"]["fusion"] == "late" and manifest["features"] == features.params
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((bundle_dir / name).read_bytes()).hexdigest() == digest, name
    # The data hash, recomputed from the raw files without medkit.deploy.
    h = hashlib.sha256()
    for pid, label, split, text, image, audio in zip(cohort.ids, cohort.labels, cohort.splits, cohort.texts,
                                                     cohort.image_paths, cohort.audio_paths, strict=True):
        h.update(f"{pid}\0{label}\0{split}\0{text}\0".encode())
        h.update(hashlib.sha256(Path(image).read_bytes()).digest())
        h.update(hashlib.sha256(Path(audio).read_bytes()).digest())
    assert manifest["data_content_sha256"] == h.hexdigest()


def test_export_refuses_wrong_cohort_and_foreign_directories(trained, tmp_path):
    other = synth.generate_cohort(tmp_path / "other", n=12, seed=9) and data.load_cohort(tmp_path / "other")
    with pytest.raises(ValueError, match="do not come from this cohort"):
        deploy.export(trained["run"], trained["features"], tmp_path / "b", other)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        deploy.export(trained["run"], trained["features"], tmp_path / "notes", trained["cohort"])
    head_only = dataclasses.replace(trained["run"], model=models.build_head(trained["run"].config),
                                    extra={"head_only": True})
    with pytest.raises(ValueError, match="head-only run reads embeddings"):
        deploy.export(head_only, trained["features"], tmp_path / "h", trained["cohort"])
    assert not (tmp_path / "h").exists()
    with pytest.raises(FileExistsError, match="not a bundle"):
        deploy.export(trained["run"], trained["features"], tmp_path / "notes", trained["cohort"], overwrite=True)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"


def test_export_moves_a_whole_bundle_into_place_and_replaces_a_bundle(trained, tmp_path):
    # written beside its place, then moved in: a second export never finds half a bundle
    first = deploy.export(trained["run"], trained["features"], tmp_path / "b", trained["cohort"], n_boot=20)
    created = json.loads((first / "manifest.json").read_text())["files"]
    (first / "stale.txt").write_text("from the first export")
    again = deploy.export(trained["run"], trained["features"], tmp_path / "b", trained["cohort"], n_boot=20,
                          overwrite=True)
    assert again == first and not (again / "stale.txt").exists()
    assert set(json.loads((again / "manifest.json").read_text())["files"]) == set(created)
    assert [p.name for p in tmp_path.iterdir()] == ["b"], "a partial directory was left behind"


@pytest.mark.parametrize("edit, message", [
    ("delete_card", "model_card.md is missing"),
    ("tamper_weights", "model.keras changed since export"),
    ("format", "bundle format 99"),
    ("threshold", "threshold 1.5 is not in (0, 1)"),
    ("image_size", "image input has shape (32, 32, 1); preprocessing.json produces (48, 48, 1)"),
    ("vocabulary", "do not fit the model's vocab_size"),
    ("keras_major", "major differs"),
    ("manifest_json", "manifest.json is not valid JSON"),
])
def test_load_refuses_a_bundle_it_cannot_use(trained, tmp_path, edit, message):
    b = _copy_bundle(trained, tmp_path)
    prep_path, manifest_path = b / "preprocessing.json", b / "manifest.json"
    prep, manifest = json.loads(prep_path.read_text()), json.loads(manifest_path.read_text())
    if edit == "delete_card":
        (b / "model_card.md").unlink()
    elif edit == "tamper_weights":
        with open(b / "model.keras", "ab") as handle:
            handle.write(b"\0")
    elif edit == "format":
        manifest["format"] = 99
        manifest_path.write_text(json.dumps(manifest))
    elif edit == "keras_major":
        manifest["versions"]["keras"] = "2.15.0"
        manifest_path.write_text(json.dumps(manifest))
    elif edit == "manifest_json":
        manifest_path.write_text("{not json")
    else:
        if edit == "threshold":
            prep["threshold"] = 1.5
        elif edit == "image_size":
            prep["image_size"] = 48
        elif edit == "vocabulary":
            prep["vocabulary"] += [f"extra{i}" for i in range(prep["vocab_size"])]
        prep_path.write_text(json.dumps(prep))
        _rehash(b, "preprocessing.json")
    with pytest.raises(deploy.BundleError) as info:
        deploy.load(b)
    assert message in str(info.value) and str(b) in str(info.value)


def test_load_refuses_what_is_not_a_bundle(tmp_path):
    with pytest.raises(deploy.BundleError, match="is not a directory"):
        deploy.load(tmp_path / "nothing")
    with pytest.raises(deploy.BundleError, match="manifest.json is missing"):
        deploy.load(tmp_path)


# ------------------------------------------------------------------ portability and skew


def test_savedmodel_in_plain_tensorflow_matches_medkit(trained, tmp_path):
    """The portability proof: a fresh process with TensorFlow only, no medkit, same tensors, 1e-6."""
    test = trained["splits"]["test"]
    inputs = {m: test[m] for m in ("image", "text", "audio")}
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(trained['bundle_dir'] / 'saved_model')!r})
        x = dict(np.load({str(tmp_path / 'inputs.npz')!r}))
        serve = loaded.signatures["serving_default"]
        outputs = [serve(**{{k: tf.constant(v) for k, v in x.items()}}) for _ in range(2)]
        p = [next(iter(o.values())).numpy().reshape(-1) for o in outputs]
        np.save({str(tmp_path / 'served.npy')!r}, np.stack(p))
        json.dump({{"medkit": any(m == "medkit" or m.startswith("medkit.") for m in sys.modules),
                   "keras_hub": "keras_hub" in sys.modules}}, open({str(tmp_path / 'modules.json')!r}, "w"))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert modules == {"medkit": False, "keras_hub": False}
    served = np.load(tmp_path / "served.npy")
    expected = train.predict(trained["run"].model, test)
    np.testing.assert_allclose(served[0], expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(served[0], served[1])  # no augmentation at serving time


def _note_file(tmp_path: Path, text: str, name: str = "note.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_medkit_predict_on_raw_files_gives_the_notebooks_probabilities(trained, tmp_path, capsys):
    """Training-serving skew: raw files through ``medkit predict`` against ``train.predict`` on the features."""
    cohort, run = trained["cohort"], trained["run"]
    test_split = trained["splits"]["test"]
    expected = dict(zip(test_split["patient_id"], train.predict(run.model, test_split), strict=True))
    for i in cohort.indices("test")[:3]:
        note = _note_file(tmp_path, cohort.texts[i], f"{cohort.ids[i]}.txt")
        code = cli.main(["predict", str(trained["bundle_dir"]), "--image", str(cohort.image_paths[i]),
                         "--note-file", str(note), "--audio", str(cohort.audio_paths[i])])
        assert code == 0
        result = json.loads(capsys.readouterr().out)
        assert result["probability"] == pytest.approx(expected[cohort.ids[i]], abs=1e-6)
        assert result["modalities_used"] == ["image", "text", "audio"] and result["modalities_missing"] == []
        assert result["decision"] == ("positive" if result["probability"] >= result["threshold"] else "negative")
    # Once as a user would: a separate process, the note as text on the command line.
    i = cohort.indices("test")[3]
    proc = subprocess.run([sys.executable, "-m", "medkit", "predict", str(trained["bundle_dir"]),
                           "--image", str(cohort.image_paths[i]), "--note", cohort.texts[i],
                           "--audio", str(cohort.audio_paths[i])], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["probability"] == pytest.approx(expected[cohort.ids[i]], abs=1e-6)


def test_batch_manifest_predicts_every_patient_like_the_notebook(trained, tmp_path, capsys):
    cohort, run, features = trained["cohort"], trained["run"], trained["features"]
    out = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(trained["bundle_dir"]), "--manifest", str(cohort.data_dir), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out, newline="")))
    assert [r["patient_id"] for r in rows] == list(cohort.ids)
    expected = train.predict(run.model, {m: getattr(features, m) for m in ("image", "text", "audio")})
    np.testing.assert_allclose([float(r["probability"]) for r in rows], expected, atol=1e-6)
    assert [int(r["label"]) for r in rows] == cohort.labels.tolist()


# ------------------------------------------------------------------ missing modalities and bad input


def test_missing_modality_is_left_out_the_way_the_model_supports(trained):
    bundle, cohort = trained["bundle"], trained["cohort"]
    i = int(cohort.indices("test")[0])
    result = bundle.predict(image=cohort.image_paths[i], note=cohort.texts[i])
    assert result["modalities_used"] == ["image", "text"] and result["modalities_missing"] == ["audio"]
    assert any("without audio" in w for w in result["warnings"])
    x = {m: trained["features"].split("test")[m][:1] for m in ("image", "text", "audio")}
    want = models.predict_missing(trained["run"].model, x, ("audio",))[0]
    assert result["probability"] == pytest.approx(float(want), abs=1e-6)
    only_note = bundle.predict(note=cohort.texts[i])
    assert only_note["modalities_used"] == ["text"]
    with pytest.raises(deploy.InputError, match="no input"):
        bundle.predict()


def test_savedmodel_endpoints_for_missing_modalities(trained, tmp_path):
    import tensorflow as tf

    bundle_dir = deploy.export(trained["run"], trained["features"], tmp_path / "b", trained["cohort"], n_boot=20,
                               missing_endpoints=True)
    loaded = tf.saved_model.load(str(bundle_dir / "saved_model"))
    test = trained["splits"]["test"]
    x = {m: test[m] for m in ("image", "text", "audio")}
    for missing in (("audio",), ("image", "text")):
        served = getattr(loaded, "serve_without_" + "_".join(missing))(x).numpy().reshape(-1)
        np.testing.assert_allclose(served, models.predict_missing(trained["run"].model, x, missing), atol=1e-6)


def _write_wav(path: Path, y: np.ndarray, sr: int) -> Path:
    import soundfile as sf

    sf.write(path, y, sr, subtype="PCM_16")
    return path


def test_bad_input_is_converted_or_rejected_naming_the_file(trained, tmp_path):
    import cv2
    import soundfile as sf
    from scipy.signal import resample_poly

    bundle, cohort = trained["bundle"], trained["cohort"]
    i = int(cohort.indices("test")[0])
    image, audio, note = cohort.image_paths[i], cohort.audio_paths[i], cohort.texts[i]
    base = bundle.predict(image=image, note=note, audio=audio)

    # A colour copy whose three channels equal the gray image: converted, same prediction, with a warning naming it.
    gray = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "grey_as_rgb.png"), np.dstack([gray] * 3))
    same = bundle.predict(image=tmp_path / "grey_as_rgb.png", note=note, audio=audio)
    assert same["probability"] == pytest.approx(base["probability"], abs=1e-6)
    tinted = np.dstack([gray * 0.8, gray * 0.9, gray]).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "tinted.jpg"), tinted)
    warned = bundle.predict(image=tmp_path / "tinted.jpg", note=note, audio=audio)
    assert any("tinted.jpg" in w and "colour" in w for w in warned["warnings"])

    # DICOM: converted (pydicom's bundled CT), with a warning.
    from pydicom.data import get_testdata_file

    dicom = bundle.predict(image=get_testdata_file("CT_small.dcm"), note=note)
    assert any("DICOM" in w for w in dicom["warnings"])

    # 16 kHz: resampled to the model's 8 kHz with a warning; the prediction barely moves.
    y, sr = sf.read(str(audio), dtype="float32")
    up = _write_wav(tmp_path / "sixteen.wav", resample_poly(y, 2, 1), 2 * sr)
    resampled = bundle.predict(image=image, note=note, audio=up)
    assert any("sixteen.wav" in w and "resampled from 16000 Hz" in w for w in resampled["warnings"])
    assert resampled["probability"] == pytest.approx(base["probability"], abs=0.05)
    stereo = _write_wav(tmp_path / "stereo.wav", np.stack([y, y], axis=1), sr)
    assert bundle.predict(image=image, note=note, audio=stereo)["probability"] == pytest.approx(
        base["probability"], abs=1e-4)
    long = _write_wav(tmp_path / "long.wav", np.concatenate([y, y]), sr)
    assert any("long.wav" in w and "first 3.00 s" in w for w in bundle.predict(audio=long)["warnings"])

    rejected = {
        "corrupt.wav": (lambda p: p.write_bytes(Path(audio).read_bytes()[:30]), "corrupt.wav"),
        "low.wav": (lambda p: _write_wav(p, y[::2], sr // 2), "recorded at 4000 Hz, below the model's 8000 Hz"),
        "short.wav": (lambda p: _write_wav(p, y[: sr], sr), "the model needs at least 1.50 s"),
        "silent.wav": (lambda p: _write_wav(p, np.zeros(3 * sr, "float32"), sr), "silent"),
    }
    for name, (make, message) in rejected.items():
        make(tmp_path / name)
        with pytest.raises(deploy.InputError) as info:
            bundle.predict(image=image, note=note, audio=tmp_path / name)
        assert name in str(info.value) and message in str(info.value), str(info.value)
    (tmp_path / "corrupt.png").write_bytes(b"not a png at all")
    with pytest.raises(deploy.InputError, match="corrupt.png"):
        bundle.predict(image=tmp_path / "corrupt.png", note=note)
    with pytest.raises(deploy.InputError, match="note is empty"):
        bundle.predict(image=image, note="   ")
    with pytest.raises(deploy.InputError, match="does not exist"):
        bundle.predict(image=tmp_path / "absent.png")


def test_cli_reports_bad_input_and_bad_bundles_with_exit_codes(trained, tmp_path, capsys):
    cohort = trained["cohort"]
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    code = cli.main(["predict", str(trained["bundle_dir"]), "--image", str(cohort.image_paths[0]),
                     "--audio", str(tmp_path / "broken.wav")])
    err = capsys.readouterr().err
    assert code == 2 and "broken.wav" in err and "unreadable" in err
    assert cli.main(["predict", str(tmp_path), "--note", "Denies fever."]) == 1
    assert "manifest.json is missing" in capsys.readouterr().err
    assert cli.main(["predict", str(trained["bundle_dir"])]) == 2
    assert "nothing to predict" in capsys.readouterr().err
    (tmp_path / "latin1.txt").write_bytes("fi\xe8vre".encode("latin-1"))
    assert cli.main(["predict", str(trained["bundle_dir"]), "--note-file", str(tmp_path / "latin1.txt")]) == 2
    assert "latin1.txt" in capsys.readouterr().err


def test_batch_with_missing_rows_no_labels_and_bad_rows_drops_nobody(trained, tmp_path, capsys):
    source = trained["cohort"].data_dir
    target = Path(shutil.copytree(source, tmp_path / "new_site"))
    texts = read_rows(target / "texts.csv")
    for row in texts:
        row.pop("label")
        row.pop("split")
    texts[1]["content"] = " "
    write_rows(target / "texts.csv", texts)
    audios = read_rows(target / "audios.csv")
    write_rows(target / "audios.csv", [r for r in audios if r["patient_id"] != texts[0]["patient_id"]])
    images = read_rows(target / "images.csv")
    images[2]["path"] = "../outside.png"
    images.append(dict(images[3]))
    write_rows(target / "images.csv", images)
    out = tmp_path / "pred.csv"
    code = cli.main(["predict", str(trained["bundle_dir"]), "--manifest", str(target), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    rows = {r["patient_id"]: r for r in csv.DictReader(open(out, newline=""))}
    assert len(rows) == len(texts) and "label" not in next(iter(rows.values()))
    first, second, third, fourth = (rows[texts[k]["patient_id"]] for k in range(4))
    assert first["modalities_used"] == "image+text" and "without audio" in first["warnings"] and first["probability"]
    assert "texts.csv row 2: empty note" in second["error"] and not second["probability"]
    assert "images.csv row 3" in third["error"] and "escapes the data directory" in third["error"]
    assert "duplicate patient_id" in fourth["error"]
    assert f"rejected {texts[1]['patient_id']}" in err


# ------------------------------------------------------------------ shift and the model card


def test_shift_report_flags_another_site_and_not_the_same_one(trained, tmp_path):
    bundle = trained["bundle"]
    synth.generate_cohort(tmp_path / "site_b", n=40, seed=11, acquisition=synth.SHIFTED)
    synth.generate_cohort(tmp_path / "same", n=40, seed=12)
    shifted = deploy.shift_report(bundle, tmp_path / "site_b")
    assert shifted.flagged == ["image", "text", "audio"]
    table = shifted.table.set_index("statistic")
    for name in ("image_width", "image_colour", "audio_sample_rate", "audio_duration_s", "audio_loudness_dbfs",
                 "note_oov_rate"):
        assert table.loc[name, "flagged"], name
    # The KS statistic agrees with scipy on the raw numbers, recomputed here from the files.
    from scipy.stats import ks_2samp
    import soundfile as sf

    durations = [sf.info(str(p)).duration for p in sorted((tmp_path / "site_b" / "snd").glob("*.wav"))]
    reference = bundle.reference["stat_audio_duration_s"]
    assert table.loc["audio_duration_s", "effect"] == pytest.approx(ks_2samp(reference, durations).statistic)
    same = deploy.shift_report(bundle, tmp_path / "same")
    assert same.flagged == [], same.table.to_string()
    assert "no modality moved" in same.summary()


def test_shift_report_lists_unreadable_patients_instead_of_dropping_them(trained, tmp_path):
    target = Path(shutil.copytree(trained["cohort"].data_dir, tmp_path / "c"))
    first = read_rows(target / "audios.csv")[0]
    (target / first["path"]).write_bytes(b"garbage")
    report = deploy.shift_report(trained["bundle"], target)
    assert [pid for pid, _ in report.skipped] == [first["patient_id"]]
    assert "skipped" in report.summary()


def test_model_card_is_written_from_the_runs_numbers(trained):
    from sklearn.metrics import brier_score_loss, roc_auc_score

    card = trained["bundle"].card
    text = (trained["bundle_dir"] / "model_card.md").read_text()
    for phrase in ("Intended use", "synthetic data, not for clinical use", "Metrics", "Calibration",
                   "Known failure modes", "Missing modalities", "Dataset shift"):
        assert phrase in text, phrase
    test = trained["splits"]["test"]
    p = train.predict(trained["run"].model, test)
    assert card["test_metrics"]["auroc"]["estimate"] == pytest.approx(roc_auc_score(test["label"], p))
    assert card["test_metrics"]["brier"]["estimate"] == pytest.approx(brier_score_loss(test["label"], p))
    assert f"{roc_auc_score(test['label'], p):.3f}" in text
    n_test = len(test["label"])
    for factor in ("sex", "age_band"):
        assert sum(r["n"] for r in card["subgroups"] if r["factor"] == factor) == n_test
    assert sum(b["n"] for b in card["calibration"]["bins"]) == n_test
    assert set(card["test_auroc_without"]) == {"image", "text", "audio"}


def test_subgroups_are_read_from_the_notes():
    groups = deploy.subgroups_from_notes(["45-year-old woman presenting with cough for 2 days.",
                                          "Seen today: 67-year-old man with fever since 3 days.",
                                          "23 y/o man, 1 days of fatigue.", "56yo woman c/o wet cough"])
    assert groups["sex"].tolist() == ["female", "male", "male", "female"]
    assert groups["age_band"].tolist() == ["40-64", "65+", "<40", "40-64"]


# ------------------------------------------------------------------ the shifted cohort


def test_shifted_cohort_is_recorded_differently_but_has_the_same_patients(tmp_path):
    import cv2
    import soundfile as sf

    synth.generate_cohort(tmp_path / "a", n=12, seed=4)
    summary = synth.generate_cohort(tmp_path / "b", n=12, seed=4, acquisition=synth.SHIFTED)
    a_texts, b_texts = read_rows(tmp_path / "a" / "texts.csv"), read_rows(tmp_path / "b" / "texts.csv")
    assert [r["label"] for r in a_texts] == [r["label"] for r in b_texts] and summary["n_patients"] == 12
    assert [r["split"] for r in a_texts] == [r["split"] for r in b_texts]
    image = cv2.imread(str(tmp_path / "b" / "img" / "P0001.jpg"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (192, 192, 3) and np.abs(np.diff(image.astype(int), axis=2)).mean() > 2
    for row in read_rows(tmp_path / "b" / "audios.csv"):
        info = sf.info(str(tmp_path / "b" / row["path"]))
        assert info.samplerate == 16000 and row["sample_rate"] == "16000" and 3.5 <= info.duration <= 5.0
    assert "creps" in " ".join(r["content"] for r in b_texts) or "nil" in b_texts[0]["content"]
    # The vocabulary of the standard notes misses much of the terse ones.
    vocab = data.build_vocabulary([r["content"] for r in a_texts])
    oov = np.mean([t not in vocab for r in b_texts for t in data.tokenize(r["content"])])
    assert oov > 0.1


def test_synth_cli_options_override_the_preset(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path / "c"), "--n", "10", "--shift", "--sample-rate", "11025",
                     "--no-colour", "--image-format", "png"]) == 0
    assert "another site" in capsys.readouterr().out
    import soundfile as sf

    assert sf.info(str(tmp_path / "c" / "snd" / "P0001.wav")).samplerate == 11025
    assert (tmp_path / "c" / "img" / "P0001.png").is_file()
    assert cli.main(["synth", "--out", str(tmp_path / "d"), "--n", "10", "--sample-rate", "100"]) == 2
    assert "sample_rate must be at least 4000" in capsys.readouterr().err


def test_export_does_not_replace_what_appeared_meanwhile(trained, tmp_path, monkeypatch):
    # another process writes the directory while this export runs: it is kept, and nothing partial is left
    write = deploy._write_saved_model

    def meanwhile(*args, **kwargs):
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "mine.txt").write_text("keep me")
        return write(*args, **kwargs)

    monkeypatch.setattr(deploy, "_write_saved_model", meanwhile)
    with pytest.raises(FileExistsError, match="not empty"):
        deploy.export(trained["run"], trained["features"], tmp_path / "b", trained["cohort"], n_boot=20)
    assert (tmp_path / "b" / "mine.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["b"], "a partial directory was left behind"
