"""Chapter 5's self-checks (mod-ex1 to mod-ex5): right answers pass, each typical wrong answer gets its own hint,
placeholders and stubs are "not done", a crash is a verdict (never an exception), and no hint gives the answer."""
from __future__ import annotations

import re

import pytest

from medkit import data
from medkit import exercises as ex

CUES = ("no", "not", "denies", "negative for")


def raise_not_implemented(*args, **kwargs):
    raise NotImplementedError("stub")


def crash(*args, **kwargs):
    raise ZeroDivisionError("oops")


# ---------------------------------------------------------------- reference answers (written from the exercise text)
def good_encode(tokens, vocabulary, length):
    ids = [vocabulary.get(t, data.OOV) for t in tokens][:length]
    return ids + [data.PAD] * (length - len(ids))


def good_is_negated(sentence, finding):
    low = sentence.lower()
    before = low[:low.find(finding)]
    return any(re.search(rf"\b{cue}\b", before) for cue in CUES)


def good_flag(note, finding):
    return any(finding in s.lower() and not good_is_negated(s, finding) for s in note.split("."))


def good_align(images, texts):
    by_id = dict(zip(images["patient_id"], images["path"], strict=True))
    missing = [p for p in texts["patient_id"] if p not in by_id]
    if missing:
        raise ValueError(f"no image for patient(s) {missing}")
    return [by_id[p] for p in texts["patient_id"]]


RIGHT = {
    "mod-ex1": lambda: ex.check_encode_tokens(good_encode),
    "mod-ex2": lambda: ex.check_is_negated(good_is_negated),
    "mod-ex3": lambda: ex.check_flag_affirmed(good_flag),
    "mod-ex4": lambda: ex.check_align_by_id(good_align),
    "mod-ex5": lambda: ex.check_vocabulary_from_train("b"),
}


@pytest.mark.parametrize("exercise", list(RIGHT))
def test_right_answers_pass(exercise, capsys):
    result = RIGHT[exercise]()
    assert result.status == "correct" and result.passed, result.message
    assert result.exercise == exercise
    assert result.message in capsys.readouterr().out  # the verdict is printed for the student


def test_the_reference_encoder_is_medkit_s():
    """The reference answer above agrees with medkit.data.encode_texts on the check's own cases."""
    vocabulary = {"no": 2, "crackles": 3, "fever": 4}
    for tokens, length in ((["no", "crackles"], 4), (["no", "wheeze"], 3), (["fever", "no", "crackles", "no"], 2)):
        assert good_encode(tokens, vocabulary, length) == \
            data.encode_texts([" ".join(tokens)], vocabulary, length=length)[0].tolist()


# ---------------------------------------------------------------- wrong answers and their hints
def drop_unknown(tokens, vocabulary, length):
    ids = [vocabulary[t] for t in tokens if t in vocabulary][:length]
    return ids + [data.PAD] * (length - len(ids))


def keep_last(tokens, vocabulary, length):
    ids = [vocabulary.get(t, data.OOV) for t in tokens][-length:]
    return ids + [data.PAD] * (length - len(ids))


WRONG = [
    # mod-ex1: the encoder
    (lambda: ex.check_encode_tokens(drop_unknown), "OOV index 1"),
    (lambda: ex.check_encode_tokens(keep_last), "*first* `length` tokens"),
    (lambda: ex.check_encode_tokens(lambda t, v, n: [v.get(w, 1) for w in t]), "exactly `length`"),
    (lambda: ex.check_encode_tokens(lambda t, v, n: [0] * (n - len(t[:n])) + [v.get(w, 1) for w in t[:n]]),
     "pad with 0 at the end"),
    (lambda: ex.check_encode_tokens(lambda t, v, n: "ids"), "return a list (or array) of integers"),
    (lambda: ex.check_encode_tokens(crash), "raised ZeroDivisionError"),
    (lambda: ex.check_encode_tokens(42), "expected a function"),
    # mod-ex2: negation before the finding
    (lambda: ex.check_is_negated(lambda s, f: any(re.search(rf"\b{c}\b", s.lower()) for c in CUES)),
     "a cue *after* the finding does not negate it"),
    (lambda: ex.check_is_negated(lambda s, f: any(re.search(rf"\b{c}\b", s[:s.lower().find(f)]) for c in CUES)),
     "case-insensitively"),
    (lambda: ex.check_is_negated(lambda s, f: "yes"), "return True or False, not str"),
    (lambda: ex.check_is_negated(crash), "raised ZeroDivisionError"),
    # mod-ex3: sentence by sentence
    (lambda: ex.check_flag_affirmed(lambda note, f: f in note.lower()), "split the note into sentences"),
    (lambda: ex.check_flag_affirmed(lambda note, f: f in note.lower() and not good_is_negated(note, f)),
     "split the note into sentences"),
    (lambda: ex.check_flag_affirmed(lambda note, f: int(good_flag(note, f))), "return True or False, not int"),
    # mod-ex4: align by patient id
    (lambda: ex.check_align_by_id(lambda images, texts: list(images["path"])), "the article's mistake"),
    (lambda: ex.check_align_by_id(lambda images, texts: good_align(images, texts)[::-1]),
     "follow the order of the notes' patient_id"),
    (lambda: ex.check_align_by_id(lambda images, texts: [dict(zip(images["patient_id"], images["path"],
                                                                  strict=True)).get(p, "")
                                                         for p in texts["patient_id"]]), "accepted silently"),
    (lambda: ex.check_align_by_id(lambda images, texts: [dict(zip(images["patient_id"], images["path"],
                                                                  strict=True))[p]
                                                         for p in texts["patient_id"]]), "raises KeyError"),
    (lambda: ex.check_align_by_id(lambda images, texts: good_align(images, texts) if len(images) == 3
                                  else (_ for _ in ()).throw(ValueError("an image is missing"))), "does not name P003"),
    (lambda: ex.check_align_by_id(lambda images, texts: 3), "return a list of paths"),
    # mod-ex5: a conceptual question
    (lambda: ex.check_vocabulary_from_train("a"), "size and speed"),
    (lambda: ex.check_vocabulary_from_train("c"), "OOV rate is above 0"),
    (lambda: ex.check_vocabulary_from_train("d"), "Keras accepts any vocabulary"),
    (lambda: ex.check_vocabulary_from_train(" B "), None),  # spaces and case do not matter: correct
    (lambda: ex.check_vocabulary_from_train("z"), "one of the letters"),
    (lambda: ex.check_vocabulary_from_train(2), "one of the letters"),
]


@pytest.mark.parametrize("call, hint", WRONG)
def test_wrong_answers_fail_with_their_hint(call, hint):
    result = call()
    if hint is None:
        assert result.status == "correct", result.message
        return
    assert result.status == "wrong", result.message
    assert hint in result.message, result.message


def test_hints_do_not_give_the_answer_away():
    messages = [call().message for call, hint in WRONG if hint is not None]
    for msg in messages:
        # the expected id lists of mod-ex1 and the aligned path order of mod-ex4
        assert not any(tok in msg for tok in ("[2, 3, 0, 0]", "[2, 1, 0]", "[4, 2]", "i3.png', 'i1.png")), msg
    assert "'b'" not in ex.check_vocabulary_from_train("a").message


# ---------------------------------------------------------------- not done
CHECKS = [ex.check_encode_tokens, ex.check_is_negated, ex.check_flag_affirmed, ex.check_align_by_id]


@pytest.mark.parametrize("check", CHECKS + [ex.check_vocabulary_from_train])
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholders_are_not_done(check, placeholder):
    result = check(placeholder)
    assert result.status == "not done" and not result.passed
    assert "not done yet" in result.message


@pytest.mark.parametrize("check", CHECKS)
def test_stub_functions_are_not_done(check):
    assert check(raise_not_implemented).status == "not done"


# ---------------------------------------------------------------- mod-ex3's AUROC, recomputed with the student's flags
def test_flag_affirmed_auroc_is_recomputed_from_the_students_function():
    from sklearn.metrics import roc_auc_score

    texts = ["No crackles.", "Crackles at the base.", "Denies fever. Crackles heard.", "Clear chest.",
             "No crackles. Coarse crackles at the left base."]
    labels = [0, 1, 1, 0, 0]
    right = float(roc_auc_score(labels, [float(good_flag(t, "crackles")) for t in texts]))
    assert ex.check_flag_affirmed(good_flag, right, texts, labels).passed
    naive = float(roc_auc_score(labels, [float("crackles" in t.lower()) for t in texts]))
    assert naive != right
    assert ex.check_flag_affirmed(good_flag, naive, texts, labels).status == "wrong"  # another rule's AUROC
    assert "AUROC of your flags" in ex.check_flag_affirmed(good_flag, 0.5, texts, labels).message
    assert ex.check_flag_affirmed(good_flag, ..., texts, labels).status == "not done"
    assert ex.check_flag_affirmed(good_flag, "high", texts, labels).status == "wrong"
