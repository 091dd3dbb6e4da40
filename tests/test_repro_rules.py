"""The defaults for values new to the reference are data (reproducibility/rules.json), not code."""
from __future__ import annotations

import json

import pytest

from medkit.book import repro


@pytest.mark.parametrize(("stem", "name", "kind", "tol"), [
    ("06_multimodal_model", "test_auroc_fused", "trained", 0.05),
    ("07_deployment", "dp_site_b_auroc", "trained", 0.05),
    ("05_modalities", "shortcut_auroc_brightness", "float32", 1e-3),
    ("01_cross_entropy", "ce_article_keras", "float32", 1e-6),
    ("01_cross_entropy", "ce_article_example", "closed-form", 1e-9),
])
def test_new_values_get_the_rule_of_their_chapter(stem, name, kind, tol):
    entry = repro.default_entry(stem, name, 0.5)
    assert (entry["kind"], entry["tol"]) == (kind, tol)


def test_every_stored_trained_value_would_be_recorded_as_trained_again():
    reference = repro.load_reference()
    for stem, entry in reference["full"].items():
        for name, value in entry["values"].items():
            if value["kind"] == "trained" and isinstance(value["value"], float):
                assert repro.default_entry(stem, name, value["value"])["kind"] == "trained", (stem, name)


@pytest.mark.parametrize(("text", "match"), [
    ("{", "not a rules file"),
    ('{"rules": [{"notebook": "*", "value": "*", "kind": "trained"}]}', "rule 0 needs"),
    ('{"rules": [{"notebook": "*", "value": "*", "kind": "guess", "tol": 1}]}', "unknown|known kinds"),
])
def test_a_bad_rules_file_is_an_error_naming_it(tmp_path, text, match):
    path = tmp_path / "rules.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        repro.load_rules(path)
    assert str(path) in str(info.value)


def test_the_rules_file_documents_itself():
    data = json.loads(repro.RULES_PATH.read_text())
    assert data["about"] and all(rule["why"] for rule in data["rules"])
