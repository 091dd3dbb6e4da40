"""The site's configuration and Sphinx extension without building the site: buttons only with a repository,
author-year references, every cited key in the bibliography, one Thebe script, search texts.

(The built site is checked in tests/test_site.py.)
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml
from pybtex.database import parse_file
from pybtex.plugin import find_plugin

from medkit.book import sphinxext
from medkit.book.site import site_config, write_site_config

REPO_ROOT = Path(__file__).resolve().parents[1]
BIB = REPO_ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


@pytest.fixture(scope="module")
def style():
    sphinxext._register_author_year_style()
    return find_plugin("pybtex.style.formatting", sphinxext.STYLE_NAME)()


def render(style, key: str) -> str:
    bib = parse_file(BIB)
    entry = next(e for e in style.format_entries([bib.entries[key]]))
    return entry.text.render(find_plugin("pybtex.backends", "text")())


# --- buttons ----------------------------------------------------------------------------------------------

def test_the_repository_config_has_no_address_and_so_no_buttons():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == "", "github.com/medkit-book/medkit does not exist: leave the url empty"
    staged = site_config(config)
    assert staged["html"]["use_repository_button"] is False and staged["html"]["use_issues_button"] is False
    assert not any(staged["launch_buttons"][k] for k in ("binderhub_url", "colab_url", "jupyterhub_url"))
    assert staged["launch_buttons"]["thebe"] is False
    assert staged["repository"]["url"] == ""  # never Jupyter Book's default (its own repository)
    assert config["launch_buttons"]["colab_url"], "site_config must not change its argument"


def test_an_address_turns_the_buttons_on(tmp_path):
    source = tmp_path / "_config.yml"
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/someone/medkit"
    source.write_text(yaml.safe_dump(config))
    (tmp_path / "staging").mkdir()
    staged = write_site_config(tmp_path / "staging", source)
    assert staged["html"]["use_repository_button"] and staged["html"]["use_issues_button"]
    assert staged["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert staged["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    written = yaml.safe_load((tmp_path / "staging" / "_config.yml").read_text())
    assert written == staged
    assert written["sphinx"]["config"]["bibtex_default_style"] == sphinxext.STYLE_NAME


def test_a_missing_repository_section_means_no_buttons():
    staged = site_config({"title": "x"})
    assert staged["repository"]["url"] == "" and staged["html"]["use_repository_button"] is False


def test_an_address_that_is_not_https_is_refused():
    with pytest.raises(ValueError, match=r"_config.yml: repository.url .*'github.com/x/y'"):
        site_config({"repository": {"url": "github.com/x/y"}})


# --- references -------------------------------------------------------------------------------------------

def cited_keys() -> dict[str, set[str]]:
    sources = list((REPO_ROOT / "book").glob("*.md")) + sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    cited: dict[str, set[str]] = {}
    for path in sources:
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        for keys in CITE.findall(text):
            for key in keys.split(","):
                cited.setdefault(key.strip(), set()).add(path.name)
    return cited


def test_every_cited_work_is_in_the_bibliography():
    entries = parse_file(BIB).entries
    missing = {key: sorted(where) for key, where in cited_keys().items() if key not in entries}
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_the_scaling_page_cites_goyal_with_a_role_not_as_plain_text():
    text = (REPO_ROOT / "book" / "scaling.md").read_text()
    assert "(Goyal et al., 2017)" not in text
    assert "goyal2017accurate" in cited_keys()


def test_every_entry_has_what_an_author_year_reference_needs():
    bib = parse_file(BIB)
    dois = [e.fields["doi"] for e in bib.entries.values() if "doi" in e.fields]
    assert len(dois) == len(set(dois)), "two entries share a DOI"
    for key, entry in bib.entries.items():
        assert re.fullmatch(r"1[0-9]{3}|20[0-9]{2}", entry.fields.get("year", "")), f"{key}: no year"
        assert entry.persons.get("author") or entry.persons.get("editor"), f"{key}: no author"
        assert entry.fields.get("title"), f"{key}: no title"
        assert not dois or all(d.startswith("10.") for d in dois)
        assert entry.fields.get("eprint") or entry.fields.get("doi") or entry.fields.get("publisher") \
            or entry.fields.get("journal") or entry.fields.get("booktitle"), f"{key}: nothing to find it by"


def test_references_are_written_author_year(style):
    assert render(style, "brier1950verification") == (
        "Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather "
        "Review, 78(1):1–3. doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2.")
    assert render(style, "hanley1982meaning").startswith("Hanley, J. A. and McNeil, B. J. (1982). The meaning")
    # BibTeX's "and others" is "et al.", and the year is not repeated at the end
    cardoso = render(style, "cardoso2022monai")
    assert cardoso.startswith("Cardoso, M. J., Li, W.,") and "Yang, D., et al. (2022). MONAI" in cardoso
    assert cardoso.count("2022") == 1
    assert render(style, "hastie2009elements").count("2009") == 1
    assert render(style, "goyal2017accurate").endswith("arXiv:1706.02677.")


def test_labels_are_author_year_unique_and_sorted(style):
    bib = parse_file(BIB)
    formatted = list(style.format_entries(bib.entries.values()))
    labels = [e.label for e in formatted]
    assert len(set(labels)) == len(labels)
    assert "Brier 1950" in labels and "Hanley and McNeil 1982" in labels and "Goyal et al. 2017" in labels
    assert not any(label.isdigit() for label in labels)
    firsts = [label.split()[0].lower() for label in labels]
    assert firsts == sorted(firsts), "the list is sorted by first author"


def test_colliding_labels_get_letters():
    sphinxext._register_author_year_style()
    labels = find_plugin("pybtex.style.labels", sphinxext.STYLE_NAME)()
    from pybtex.database import Entry, Person
    same = [Entry("article", [("year", "2020"), ("title", t)], persons={"author": [Person("Smith, J.")]})
            for t in ("A", "B")]
    assert list(labels.format_labels(same)) == ["Smith 2020a", "Smith 2020b"]


# --- page chrome -------------------------------------------------------------------------------------------

def test_thebe_configuration_is_left_once():
    body = 'const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"; const thebe_selector = ".cell"'
    app = SimpleNamespace(registry=SimpleNamespace(js_files=[
        ("other.js", {}), (None, {"body": body}), ("sphinx-thebe.js", {"async": "async"})]))
    sphinxext._one_thebe_config(app, None, [])
    assert app.registry.js_files == [("other.js", {}), ("sphinx-thebe.js", {"async": "async"})]


def test_search_texts_keep_the_sections_for_anchored_results():
    body = ('<section id="top"><h1>Title</h1><p>a &amp; b</p><style>p{}</style>'
            '<section id="sub"><h2>Sub</h2><p>needle</p></section></section>')
    text = sphinxext.page_text(body)
    assert text == ('<div role="main"><section id="top"> Title a &amp; b <section id="sub"> Sub needle '
                    '</section></section></div>')
