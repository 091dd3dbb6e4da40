"""medkit.data: loaders on the bundled cohort, DICOM, resampling, features, cache, datasets and bad input."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from medkit import data
from medkit.data import CohortError, load_cohort

from data_fixtures import copy_cohort, edit_row, make_small_cohort, read_rows, write_rows


@pytest.fixture(scope="session")
def small_cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_cohort(tmp_path_factory.mktemp("small") / "cohort")


@pytest.fixture()
def cohort_copy(small_cohort_dir: Path, tmp_path: Path) -> Path:
    return copy_cohort(small_cohort_dir, tmp_path / "cohort")


# ------------------------------------------------------------------ the bundled cohort
def test_bundled_cohort_loads_aligned(repo_root: Path) -> None:
    cohort = load_cohort(repo_root / "data_samples")
    assert len(cohort) == 400 and cohort.dropped == []
    assert list(cohort.ids) == sorted(cohort.ids)
    assert set(np.unique(cohort.labels)) == {0, 1} and cohort.labels.dtype.kind == "i"
    assert set(cohort.splits) == {"train", "val", "test"}
    for pid, image, audio in zip(cohort.ids, cohort.image_paths, cohort.audio_paths, strict=True):
        assert image.name == f"{pid}.png" and audio.name == f"{pid}.wav"
    texts = {r["patient_id"]: r for r in read_rows(repo_root / "data_samples" / "texts.csv")}
    assert all(texts[p]["content"] == t and int(texts[p]["label"]) == y
               for p, t, y in zip(cohort.ids, cohort.texts, cohort.labels, strict=True))
    summary = cohort.summary()
    assert summary["n_train"] + summary["n_val"] + summary["n_test"] == 400


def test_bundled_cohort_has_no_one_number_shortcut(repo_root: Path) -> None:
    shortcuts = data.scalar_shortcuts(load_cohort(repo_root / "data_samples"))
    assert max(shortcuts.values()) < 0.62, shortcuts


# ------------------------------------------------------------------ images
def test_png_of_any_size_and_colour_becomes_unit_gray(tmp_path: Path) -> None:
    colour = np.zeros((90, 150, 3), dtype=np.uint8)
    colour[..., 2] = 255  # pure red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.jpg"), colour)
    image = data.load_image(tmp_path / "red.jpg", size=32)
    assert image.shape == (32, 32) and image.dtype == np.float32
    assert image.mean() == pytest.approx(0.299, abs=0.02)  # ITU-R BT.601 luma of red
    deep = np.full((40, 40), 65535, dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    assert data.load_image(tmp_path / "deep.png", size=16).min() == pytest.approx(1.0)


def test_dicom_ct_small_goes_through_pydicom() -> None:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    image = data.load_image(path, size=64)
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.05


def _write_dicom(path: Path, pixels: np.ndarray, photometric: str, window: tuple[float, float] | None = None) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_dicom_monochrome1_is_inverted(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 4000, 32), (32, 1))
    _write_dicom(tmp_path / "m2.dcm", ramp, "MONOCHROME2")
    _write_dicom(tmp_path / "m1.dcm", ramp, "MONOCHROME1")
    m2, m1 = data.load_image(tmp_path / "m2.dcm", 32), data.load_image(tmp_path / "m1.dcm", 32)
    assert m2[0, 0] < 0.05 and m2[0, -1] > 0.95
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)


def test_dicom_window_saturates_outside_it(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 4000, 64), (8, 1))  # stored values -> -1000..7000 after rescale
    _write_dicom(tmp_path / "w.dcm", ramp, "MONOCHROME2", window=(3000.0, 2000.0))
    image = data.load_image(tmp_path / "w.dcm", 64)
    # About a quarter of the columns lie below the window (black), a half above it (white).
    assert (image[0] < 0.01).mean() == pytest.approx(0.375, abs=0.05)
    assert (image[0] > 0.99).mean() == pytest.approx(0.375, abs=0.05)


# ------------------------------------------------------------------ audio
@pytest.mark.parametrize("rate", [16000, 44100])
def test_audio_is_resampled_to_the_requested_rate(tmp_path: Path, rate: int) -> None:
    t = np.arange(int(1.5 * rate)) / rate
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate, subtype="PCM_16")
    y = data.load_audio(tmp_path / "tone.wav", sr=8000, duration=2.0)
    assert y.shape == (16000,) and y.dtype == np.float32
    assert np.all(y[12100:] == 0)  # padded after 1.5 s
    spectrum = np.abs(np.fft.rfft(y[:12000]))
    assert np.fft.rfftfreq(12000, 1 / 8000)[spectrum.argmax()] == pytest.approx(440, abs=2)
    assert data.load_audio(tmp_path / "tone.wav", sr=8000, duration=1.0).shape == (8000,)  # trimmed


def test_mfcc_and_log_mel_shapes_and_values() -> None:
    y = np.random.default_rng(0).normal(size=24000).astype(np.float32)
    c = data.mfcc(y, 8000, n_mfcc=13)
    assert c.shape == (13, 94)
    # Oracle by hand: MFCCs are an orthonormal DCT of 40 log-mel energies in dB. Twice the amplitude is
    # 4x the power, +10 log10(4) dB in every band, so c0 grows by that times sqrt(40) and the rest stay.
    louder = data.mfcc(2 * y, 8000, n_mfcc=13)
    np.testing.assert_allclose(louder[0] - c[0], 10 * np.log10(4) * np.sqrt(40), rtol=1e-4)
    np.testing.assert_allclose(louder[1:], c[1:], atol=2e-3)
    mel = data.log_mel(y, 8000, n_mels=32)
    assert mel.shape == (32, 94) and mel.max() == pytest.approx(0.0)
    # A 440 Hz tone is loudest in the mel band centred nearest 440 Hz (Slaney's mel scale, linear below
    # 1 kHz: 200/3 Hz per mel; band i is centred on the (i + 1)-th of n_mels + 2 equally spaced mels).
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.float32)
    mel_of = lambda f: f / (200 / 3) if f < 1000 else 15 + np.log(f / 1000) / (np.log(6.4) / 27)  # noqa: E731
    mels = np.linspace(0, mel_of(4000), 32 + 2)[1:-1]
    centres = np.where(mels < 15, mels * 200 / 3, 1000 * np.exp((mels - 15) * np.log(6.4) / 27))
    assert int(data.log_mel(tone, 8000, n_mels=32).mean(axis=1).argmax()) == int(np.argmin(np.abs(centres - 440)))


# ------------------------------------------------------------------ text
def test_tokenizer_needs_no_nltk_data_and_vocabulary_is_train_only() -> None:
    assert data.tokenize("Denies fever. SpO2 91%") == ["denies", "fever", "spo", "2", "91", "%"]
    vocabulary = data.build_vocabulary(["no fever", "fever"])
    encoded = data.encode_texts(["fever with crackles"], vocabulary, length=4)
    assert encoded.tolist() == [[vocabulary["fever"], data.OOV, data.OOV, data.PAD]]
    assert data.encode_texts(["no " * 10], vocabulary, length=3).shape == (1, 3)


# ------------------------------------------------------------------ features, cache, datasets
def test_featurize_shapes_cache_and_train_only_vocabulary(small_cohort_dir: Path, tmp_path: Path) -> None:
    cohort = load_cohort(small_cohort_dir)
    features = data.featurize(cohort, image_size=32, text_len=48, n_mfcc=13, cache_dir=tmp_path)
    n = len(cohort)
    assert features.image.shape == (n, 32, 32, 1) and features.image.dtype == np.float32
    assert features.text.shape == (n, 48) and features.text.dtype == np.int32
    assert features.audio.shape == (n, 13, 94, 1) and features.audio.dtype == np.float32
    assert features.label.tolist() == cohort.labels.tolist() and not features.from_cache
    train_tokens = {tok for t, s in zip(cohort.texts, cohort.splits, strict=True) if s == "train"
                    for tok in data.tokenize(t)}
    assert set(features.vocabulary) == train_tokens
    again = data.featurize(cohort, image_size=32, text_len=48, n_mfcc=13, cache_dir=tmp_path)
    assert again.from_cache and again.vocabulary == features.vocabulary
    for name in ("image", "text", "audio", "label"):
        np.testing.assert_array_equal(getattr(again, name), getattr(features, name))
    other = data.featurize(cohort, image_size=16, text_len=48, n_mfcc=13, cache_dir=tmp_path)
    assert not other.from_cache and len(list(tmp_path.glob("*.npz"))) == 2
    train = features.split("train")
    assert set(train) == {"image", "text", "audio", "label", "patient_id"}
    assert len(train["label"]) == int((cohort.splits == "train").sum())


def test_cache_follows_file_content_and_env_variable(cohort_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDKIT_CACHE", str(tmp_path / "envcache"))
    first = data.featurize(load_cohort(cohort_copy), image_size=16, text_len=16, n_mfcc=8)
    assert len(list((tmp_path / "envcache").glob("*.npz"))) == 1
    image = cv2.imread(str(cohort_copy / "img" / "P0001.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(cohort_copy / "img" / "P0001.png"), 255 - image)
    second = data.featurize(load_cohort(cohort_copy), image_size=16, text_len=16, n_mfcc=8)
    assert not second.from_cache and not np.array_equal(first.image, second.image)


def test_make_dataset_feeds_a_multi_input_keras_model(small_cohort_dir: Path, tmp_path: Path) -> None:
    import keras

    features = data.featurize(load_cohort(small_cohort_dir), image_size=16, text_len=16, n_mfcc=8, cache_dir=tmp_path)
    dataset = data.make_dataset(features, "train", batch_size=4, seed=1)
    x, y = next(iter(dataset))
    assert sorted(x) == ["audio", "image", "text"] and y.dtype.name == "float32" and y.shape == (4,)
    assert x["image"].shape[1:] == (16, 16, 1) and x["text"].dtype.name == "int32"
    image_in = keras.Input((16, 16, 1), name="image")
    text_in = keras.Input((16,), name="text", dtype="int32")
    audio_in = keras.Input(features.audio.shape[1:], name="audio")
    merged = keras.layers.Concatenate()([
        keras.layers.Flatten()(image_in),
        keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(len(features.vocabulary) + 2, 4)(text_in)),
        keras.layers.Flatten()(audio_in)])
    model = keras.Model([image_in, text_in, audio_in], keras.layers.Dense(1, activation="sigmoid")(merged))
    model.compile("adam", "binary_crossentropy")
    history = model.fit(dataset, validation_data=data.make_dataset(features, "val"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    only_image = data.make_dataset(features, "test", inputs=("image",))
    assert list(next(iter(only_image))[0]) == ["image"]
    with pytest.raises(ValueError, match="split must be one of"):
        data.make_dataset(features, "training")


def _pass_order(dataset, images: np.ndarray, labels: np.ndarray) -> list[int]:
    """Row indices (into ``images``) of one pass over ``dataset``; each label must travel with its image."""
    flat = images.reshape(len(images), -1)
    order = []
    for x, y in dataset:
        for image, label in zip(x["image"].numpy(), y.numpy(), strict=True):
            row = int(np.argmin(np.abs(flat - image.reshape(1, -1)).sum(axis=1)))
            assert np.array_equal(flat[row], image.reshape(-1)), "an image the split does not hold"
            assert label == labels[row], f"row {row}: its label was separated from its image"
            order.append(row)
    return order


def test_shuffling_permutes_the_train_split_reproducibly(small_cohort_dir: Path, tmp_path: Path) -> None:
    """Oracle: the unshuffled split. A shuffle must be a permutation, move rows, follow its seed, reshuffle."""
    features = data.featurize(load_cohort(small_cohort_dir), image_size=8, text_len=8, n_mfcc=4, cache_dir=tmp_path)
    train = features.split("train")
    images, labels = train["image"], train["label"]
    assert len(np.unique(images.reshape(len(images), -1), axis=0)) == len(images) >= 6  # rows are identifiable
    n = len(labels)

    def order(seed: int, **kw) -> list[int]:
        return _pass_order(data.make_dataset(features, "train", batch_size=2, seed=seed, **kw), images, labels)

    assert order(0, shuffle=False) == list(range(n))  # unshuffled: the split's own order
    first = order(5)
    assert sorted(first) == list(range(n))  # every patient exactly once
    assert first != list(range(n))  # the order changed
    assert order(5) == first  # same seed, same order
    assert any(order(seed) != first for seed in (6, 7, 8))  # the seed matters
    dataset = data.make_dataset(features, "train", batch_size=2, seed=5)
    epochs = [_pass_order(dataset, images, labels) for _ in range(3)]
    assert all(sorted(e) == list(range(n)) for e in epochs)
    assert epochs[0] == first and any(e != first for e in epochs[1:])  # reshuffled each epoch
    val = features.split("val")
    assert _pass_order(data.make_dataset(features, "val", batch_size=2), val["image"], val["label"]) == \
        list(range(len(val["label"])))  # evaluation splits keep their order


# ------------------------------------------------------------------ bad input
def _problems(data_dir: Path) -> list[data.Problem]:
    with pytest.raises(CohortError) as info:
        load_cohort(data_dir)
    return info.value.problems


def _only(problems: list[data.Problem]) -> data.Problem:
    assert len(problems) == 1, problems
    return problems[0]


def test_missing_image_file(cohort_copy: Path) -> None:
    (cohort_copy / "img" / "P0003.png").unlink()
    problem = _only(_problems(cohort_copy))
    assert (problem.manifest, problem.row, problem.patient_id) == ("images.csv", 3, "P0003")
    assert "img/P0003.png" in problem.reason and "does not exist" in problem.reason


def test_corrupt_image(cohort_copy: Path) -> None:
    (cohort_copy / "img" / "P0002.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    problem = _only(_problems(cohort_copy))
    assert problem.manifest == "images.csv" and problem.row == 2 and "P0002.png" in problem.reason
    assert "corrupt" in problem.reason


def test_empty_and_unreadable_audio(cohort_copy: Path) -> None:
    sf.write(cohort_copy / "snd" / "P0004.wav", np.zeros(0, dtype=np.float32), 8000, subtype="PCM_16")
    (cohort_copy / "snd" / "P0005.wav").write_bytes(b"RIFF garbage")
    problems = _problems(cohort_copy)
    assert [(p.manifest, p.row, p.patient_id) for p in problems] == [("audios.csv", 4, "P0004"),
                                                                     ("audios.csv", 5, "P0005")]
    assert "empty" in problems[0].reason and "unreadable" in problems[1].reason


def test_empty_note_and_bad_label_and_unknown_split(cohort_copy: Path) -> None:
    manifest = cohort_copy / "texts.csv"
    edit_row(manifest, 0, content="   ")
    edit_row(manifest, 1, label="2")
    edit_row(manifest, 2, label="yes")
    edit_row(manifest, 3, split="training")
    problems = _problems(cohort_copy)
    reasons = {(p.row, p.patient_id): p.reason for p in problems}
    assert all(p.manifest == "texts.csv" for p in problems) and len(problems) == 4
    assert "empty note" in reasons[(1, "P0001")]
    assert "label must be 0 or 1, got '2'" in reasons[(2, "P0002")]
    assert "got 'yes'" in reasons[(3, "P0003")]
    assert "unknown split 'training'" in reasons[(4, "P0004")]


def test_duplicate_and_unmatched_patient_ids(cohort_copy: Path) -> None:
    rows = read_rows(cohort_copy / "images.csv")
    write_rows(cohort_copy / "images.csv", rows + [rows[0]])
    audio_rows = read_rows(cohort_copy / "audios.csv")
    write_rows(cohort_copy / "audios.csv", [r for r in audio_rows if r["patient_id"] != "P0006"])
    problems = _problems(cohort_copy)
    text = "\n".join(map(str, problems))
    assert "images.csv row 13 (patient_id 'P0001'): duplicate patient_id (first seen in row 1)" in text
    missing = [p for p in problems if p.patient_id == "P0006"]
    assert len(missing) == 1 and missing[0].manifest == "audios.csv"
    assert "listed in images.csv, texts.csv but missing here" in missing[0].reason


def test_path_escaping_the_data_dir(cohort_copy: Path) -> None:
    outside = cohort_copy.parent / "secret.png"
    cv2.imwrite(str(outside), np.zeros((8, 8), dtype=np.uint8))
    edit_row(cohort_copy / "images.csv", 6, path="../secret.png")
    problem = _only(_problems(cohort_copy))
    assert problem.row == 7 and "escapes the data directory" in problem.reason


def test_every_problem_is_reported_in_one_pass_and_skip_drops_them(cohort_copy: Path) -> None:
    (cohort_copy / "img" / "P0003.png").unlink()
    edit_row(cohort_copy / "texts.csv", 7, label="-1")
    (cohort_copy / "snd" / "P0010.wav").write_bytes(b"")
    with pytest.raises(CohortError) as info:
        load_cohort(cohort_copy)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and message.startswith("3 problem(s)")
    for fragment in ("images.csv row 3", "texts.csv row 8", "audios.csv row 10"):
        assert fragment in message
    cohort = load_cohort(cohort_copy, on_error="skip")
    assert len(cohort) == 9 and {"P0003", "P0008", "P0010"}.isdisjoint(cohort.ids)
    assert sorted(p.patient_id for p in cohort.dropped) == ["P0003", "P0008", "P0010"]
    manifest, row, patient_id, reason = cohort.dropped[0]
    assert manifest and row and patient_id and reason


def test_missing_manifest_and_column(cohort_copy: Path) -> None:
    (cohort_copy / "audios.csv").unlink()
    rows = read_rows(cohort_copy / "texts.csv")
    write_rows(cohort_copy / "texts.csv", [{k: v for k, v in r.items() if k != "label"} for r in rows])
    text = "\n".join(map(str, _problems(cohort_copy)))
    assert "audios.csv: manifest file" in text and "texts.csv: missing column(s) ['label']" in text


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_cohort(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="on_error"):
        load_cohort(tmp_path, on_error="ignore")
    with pytest.raises(FileNotFoundError):
        data.load_image(tmp_path / "none.png")


def test_split_disagreeing_between_manifests(cohort_copy: Path) -> None:
    rows = read_rows(cohort_copy / "audios.csv")
    other = "test" if rows[8]["split"] != "test" else "train"
    edit_row(cohort_copy / "audios.csv", 8, split=other)
    problem = _only(_problems(cohort_copy))
    assert (problem.manifest, problem.row, problem.patient_id) == ("audios.csv", 9, "P0009")
    assert "disagrees with texts.csv" in problem.reason
