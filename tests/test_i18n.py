"""The Chinese edition's machinery (medkit/book/i18n.py, the zh build in medkit/book/site.py).

Catalogs parse and every current translation keeps what must stay verbatim; a changed English cell makes
its translation stale (the page shows the English under the pending marker) and leaves the others alone;
inserting a cell re-keys nothing; ``python -m medkit i18n status`` exits 1 on stale or missing entries,
0 when all is translated. A small two-page book built in both editions has the switcher, ``hreflang``,
``lang="zh-CN"`` and English heading slugs on the Chinese page.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from medkit.book import i18n

REPO_ROOT = Path(__file__).resolve().parents[1]
CATALOG_DIR = REPO_ROOT / "i18n" / "zh_CN"


# --------------------------------------------------------------------------- the real catalogs


def test_every_existing_catalog_parses_and_names_its_notebook():
    for path in sorted((CATALOG_DIR / "notebooks").glob("*.json")):
        catalog = i18n.load_catalog(path)
        assert (REPO_ROOT / "notebooks" / f"{path.stem}.ipynb").exists(), f"{path}: no such chapter"
        assert catalog.source == f"notebooks/{path.stem}.ipynb", f"{path}: source is {catalog.source!r}"
    for path in sorted((CATALOG_DIR / "book").glob("*.md")):
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        match = i18n.PAGE_HEADER.match(first)
        assert match, f"{path}: first line must be '<!-- i18n-source: book/<name>.md sha256=<hex> -->'"
        assert match["path"] == f"book/{path.name}", f"{path}: names {match['path']}"
    if (CATALOG_DIR / "toc.json").exists():
        i18n.translated_toc(REPO_ROOT / "_toc.yml", CATALOG_DIR)  # raises CatalogError when malformed
    ui = json.loads((CATALOG_DIR / "ui.json").read_text(encoding="utf-8"))
    assert {"title", "search_bar_text", "togglebutton_hint", "togglebutton_hint_hide"} <= set(ui)


def test_every_current_translation_keeps_roles_maths_directives_and_labels():
    report = i18n.status(REPO_ROOT, CATALOG_DIR, check=True)
    assert not report.problems, "\n".join(report.problems[:40])
    assert 0.0 <= report.coverage <= 1.0


# --------------------------------------------------------------------------- check_translation


EN = """(sec-loss)=
## The loss

The loss is {glue:text}`ce_loss:.3f` for $p = 0.1$, see {numref}`fig-ce` and {ref}`the metrics <sec-m>`.
Call `bce(y, p)`:

$$
L = -\\log p
$$

:::{admonition} Why a log?
:class: tip
Because {cite:p}`goodfellow2016deep` says so. Read [the docs](https://keras.io/api/).
:::
"""
ZH = """(sec-loss)=
## 损失

当 $p = 0.1$ 时损失为 {glue:text}`ce_loss:.3f`，见 {numref}`fig-ce` 和 {ref}`评价指标 <sec-m>`。调用 `bce(y, p)`：

$$
L = -\\log p
$$

:::{admonition} 为什么取对数？
:class: tip
因为 {cite:p}`goodfellow2016deep` 这样说。阅读[文档](https://keras.io/api/)。
:::
"""


def test_a_faithful_translation_has_no_problems():
    assert i18n.check_translation(EN, ZH) == []


@pytest.mark.parametrize("old, new, expected", [
    ("{glue:text}`ce_loss:.3f`", "0.105", "glue role: missing {glue:text}`ce_loss:.3f`"),
    ("$p = 0.1$", "$p=0.1$", "maths: missing $p = 0.1$"),
    ("L = -\\log p", "L = -\\ln p", "maths: missing $$"),
    ("{numref}`fig-ce`", "{numref}`fig-ce2`", "role: missing ('numref', 'fig-ce')"),
    ("<sec-m>", "<sec-n>", "role: missing ('ref', 'sec-m')"),
    ("{cite:p}`goodfellow2016deep`", "Goodfellow", "role: missing ('cite:p', 'goodfellow2016deep')"),
    ("`bce(y, p)`", "`bce(p, y)`", "inline code: missing bce(y, p)"),
    (":class: tip", ":class: note", "option lines differ"),
    ("(sec-loss)=", "(sec-los)=", "labels differ"),
    ("## 损失", "### 损失", "heading levels differ"),
    (":::{admonition} 为什么取对数？", ":::{note} 为什么取对数？", "directive lines differ"),
    ("(https://keras.io/api/)", "(https://keras.io/)", "link target: missing https://keras.io/api/"),
])
def test_each_thing_that_must_stay_verbatim_is_caught(old, new, expected):
    assert old in ZH
    problems = i18n.check_translation(EN, ZH.replace(old, new, 1))
    assert any(p.startswith(expected) for p in problems), problems


def test_hard_wrapped_chinese_is_a_problem_but_lists_code_and_english_are_not():
    wrapped = ZH.replace("调用 `bce(y, p)`：", "\n调用 `bce(y, p)`：").replace("时损失为", "时\n损失为")
    problems = i18n.check_translation(EN, wrapped)
    assert any("hard-wrapped" in p for p in problems), problems
    assert i18n.hard_wraps("- 第一项\n- 第二项\n\n```\n# 中文\n中文\n```\n英文 text\nmore 文字") == []
    assert i18n.hard_wraps("表格如下：\n| 列 | 列 |") == []


# --------------------------------------------------------------------------- applying a catalog


def chapter(tmp: Path) -> tuple[nbformat.NotebookNode, i18n.Catalog]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 1. Title\n\nIntro {glue:text}`x:.2f`.", id="cell-000"),
                nbformat.v4.new_code_cell("plot()", id="cell-001"),
                nbformat.v4.new_markdown_cell("## Method\n\nWe fit $w$.", id="cell-002"),
                nbformat.v4.new_markdown_cell("## Results\n\nIt works.", id="cell-003")]
    nb.cells[1].metadata["mystnb"] = {"figure": {"caption": "The loss curve.", "name": "fig-x"}}
    zh = {"cell-000": "# 1. 标题\n\n引言 {glue:text}`x:.2f`。", "cell-001": "损失曲线。",
          "cell-002": "## 方法\n\n我们拟合 $w$。", "cell-003": "## 结果\n\n有效。"}
    entries = [{"id": cid, "field": fld, "en": en, "zh": zh[cid]} for cid, fld, en in i18n.source_units(nb)]
    path = tmp / "i18n" / "notebooks" / "01_x.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"language": "zh_CN", "source": "notebooks/01_x.ipynb", "entries": entries},
                               ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return nb, i18n.load_catalog(path)


def test_a_changed_english_cell_shows_english_with_the_marker_and_the_others_stay_translated(tmp_path):
    nb, catalog = chapter(tmp_path)
    zh_nb, states = i18n.translate_notebook(nb, catalog)
    assert [s.state for s in states] == ["translated"] * 4
    assert zh_nb.cells[2].source.startswith("## 方法")
    assert zh_nb.cells[1].metadata["mystnb"]["figure"]["caption"] == "损失曲线。"
    assert nb.cells[2].source.startswith("## Method"), "the executed notebook itself is not modified"
    nb.cells[2].source = "## Method\n\nWe fit $w$ by gradient descent."
    zh_nb, states = i18n.translate_notebook(nb, catalog)
    assert [s.state for s in states] == ["translated", "translated", "stale", "translated"]
    assert zh_nb.cells[2].source == i18n.PENDING_MARKER + "\n\n" + nb.cells[2].source
    assert "方法" not in zh_nb.cells[2].source, "never an outdated translation"
    assert zh_nb.cells[0].source.startswith("# 1. 标题") and zh_nb.cells[3].source.startswith("## 结果")
    assert zh_nb.cells[1].source == "plot()", "code is the same in both editions"


def test_inserting_a_cell_rekeys_nothing(tmp_path):
    nb, catalog = chapter(tmp_path)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("A new paragraph.", id="a1b2c3d4"))
    states = {s.id: s.state for s in i18n.unit_states(nb, catalog)}
    assert states == {"cell-000": "translated", "a1b2c3d4": "missing", "cell-001": "translated",
                      "cell-002": "translated", "cell-003": "translated"}
    # a tool that renumbers ids by position shifts every later id: the unchanged English still finds its
    # translation (by its text), and no cell gets another cell's translation
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"
    zh_nb, states = i18n.translate_notebook(nb, catalog)
    assert [s.state for s in states] == ["translated", "missing", "translated", "translated", "translated"]
    assert [c.source.splitlines()[0] for c in zh_nb.cells if c.cell_type == "markdown"] == [
        "# 1. 标题", i18n.PENDING_MARKER, "## 方法", "## 结果"]


def test_a_bad_catalog_is_an_error_naming_the_file_and_entry(tmp_path):
    path = tmp_path / "01_x.json"
    path.write_text(json.dumps({"language": "zh_CN", "entries": [{"id": "c", "field": "source", "en": "x"}]}))
    with pytest.raises(i18n.CatalogError, match=r"01_x.json: entry 0: 'zh' missing"):
        i18n.load_catalog(path)
    path.write_text("{not json")
    with pytest.raises(i18n.CatalogError, match="01_x.json: not a readable JSON catalog"):
        i18n.load_catalog(path)


# --------------------------------------------------------------------------- status


def tiny_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "book").mkdir()
    nb, _ = chapter(tmp)
    nbformat.write(nb, repo / "notebooks" / "01_x.ipynb")
    (repo / "book" / "intro.md").write_text("# Intro\n\nHello, see {doc}`../notebooks/01_x`.\n", encoding="utf-8")
    (repo / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: Start\n"
                                   "    chapters:\n      - file: notebooks/01_x\n", encoding="utf-8")
    return repo


def run_status(repo: Path, i18n_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medkit", "i18n", "status", "--repo", str(repo),
                           "--i18n-dir", str(i18n_dir), *extra], capture_output=True, text=True, cwd=REPO_ROOT)


def translate_pages(repo: Path, i18n_dir: Path) -> None:
    sha = hashlib.sha256((repo / "book" / "intro.md").read_bytes()).hexdigest()
    (i18n_dir / "book").mkdir(exist_ok=True)
    (i18n_dir / "book" / "intro.md").write_text(
        f"<!-- i18n-source: book/intro.md sha256={sha} -->\n# 引言\n\n你好，见 {{doc}}`../notebooks/01_x`。\n",
        encoding="utf-8")
    toc_sha = hashlib.sha256((repo / "_toc.yml").read_bytes()).hexdigest()
    (i18n_dir / "toc.json").write_text(json.dumps({"source_sha256": toc_sha, "captions": {"Start": "开始"}}))


def test_status_exit_codes_stale_diff_and_check(tmp_path):
    repo, i18n_dir = tiny_repo(tmp_path), tmp_path / "i18n"
    proc = run_status(repo, i18n_dir)
    assert proc.returncode == 1 and "book/intro.md: missing" in proc.stdout, proc.stdout + proc.stderr
    assert "coverage: 4/6 = 66.7%" in proc.stdout, proc.stdout
    translate_pages(repo, i18n_dir)
    proc = run_status(repo, i18n_dir, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(run_status(repo, i18n_dir, "--json").stdout)["coverage"] == 1.0
    assert i18n.translated_toc(repo / "_toc.yml", i18n_dir)[1].count("开始") == 1
    # the English of one cell changes: that cell is stale, with the diff
    nb = nbformat.read(repo / "notebooks" / "01_x.ipynb", as_version=4)
    nb.cells[2].source = "## Method\n\nWe fit $w$ by gradient descent."
    nbformat.write(nb, repo / "notebooks" / "01_x.ipynb")
    proc = run_status(repo, i18n_dir)
    assert proc.returncode == 1
    assert "01_x: 3/4 translated, 1 stale, 0 missing" in proc.stdout, proc.stdout
    assert "stale   cell-002 (source)" in proc.stdout and "+We fit $w$ by gradient descent." in proc.stdout
    # an English page changes: the Chinese edition shows the English page under the marker
    (repo / "book" / "intro.md").write_text("# Intro\n\nHello again.\n", encoding="utf-8")
    page = i18n.page_state("book/intro", repo, i18n_dir)
    assert page.state == "stale" and page.text.startswith("# Intro\n\n" + i18n.PENDING_MARKER)
    # a translation that drops a glue role fails --check
    nb.cells[2].source = "## Method\n\nWe fit $w$."
    nbformat.write(nb, repo / "notebooks" / "01_x.ipynb")
    path = i18n_dir / "notebooks" / "01_x.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["entries"][0]["zh"] = "# 1. 标题\n\n引言 0.50。"
    path.write_text(json.dumps(data, ensure_ascii=False))
    proc = run_status(repo, i18n_dir, "--check", "--brief")
    assert proc.returncode == 1 and "problem: 01_x cell-000 (source): glue role: missing" in proc.stdout, proc.stdout


# --------------------------------------------------------------------------- a small build in both editions


@pytest.mark.slow
def test_a_small_book_builds_in_both_editions_with_switcher_hreflang_and_english_slugs(tmp_path):
    from medkit.book import site

    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "book" / "intro.md").write_text(
        "# Intro\n\nSee [the method](other.md#the-method) and {ref}`sec-r`.\n", encoding="utf-8")
    (src / "book" / "other.md").write_text(
        "# Other\n\n## The method\n\nText, [results below](#results).\n\n(sec-r)=\n## Results\n\nMore.\n",
                                           encoding="utf-8")
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/other\n")
    config = {"title": "T", "only_build_toc_files": True, "execute": {"execute_notebooks": "off"},
              "sphinx": {"extra_extensions": ["medkit.book.sphinxext"],
                         "config": {"myst_heading_anchors": 3}}}
    slugs = tmp_path / "slugs.json"
    import yaml
    (src / "_config.yml").write_text(yaml.safe_dump(site.edition_config(config, "en", slugs)))
    html = site.jupyter_book(src, tmp_path / "out_en", strict=True)
    zh_src = tmp_path / "src_zh"
    import shutil
    shutil.copytree(src, zh_src)
    (zh_src / "book" / "intro.md").write_text("# 引言\n\n见[方法](other.md#the-method)和 {ref}`sec-r`。\n",
                                             encoding="utf-8")
    (zh_src / "book" / "other.md").write_text(
        "# 其他\n\n## 方法\n\n正文，[结果见下](#results)。\n\n(sec-r)=\n## 结果\n\n更多。\n", encoding="utf-8")
    ui = {"title": "书", "search_bar_text": "搜索本书", "togglebutton_hint": "点击显示",
          "togglebutton_hint_hide": "点击隐藏"}
    search_dict = site.write_search_dict(tmp_path / "dict.txt", ["交叉熵"])
    (zh_src / "_config.yml").write_text(yaml.safe_dump(site.zh_config(config, ui, search_dict, slugs),
                                                       allow_unicode=True), encoding="utf-8")
    html_zh = site.jupyter_book(zh_src, tmp_path / "out_zh", strict=True)
    en_page = (html / "book" / "intro.html").read_text(encoding="utf-8")
    zh_page = (html_zh / "book" / "intro.html").read_text(encoding="utf-8")
    zh_other = (html_zh / "book" / "other.html").read_text(encoding="utf-8")
    assert 'href="../zh/book/intro.html"' in en_page and 'hreflang="zh-CN"' in en_page
    assert re.search(r'<html[^>]*lang="zh-CN"', zh_page), zh_page[:300]
    assert 'class="btn btn-sm medkit-lang-switch" href="../../book/intro.html"' in zh_page
    assert '<link rel="alternate" hreflang="en" href="../../book/intro.html"' in zh_page
    assert 'href="other.html#the-method"' in zh_page, "the English slug resolves in the Chinese edition"
    assert 'id="the-method"' in zh_other, "the translated heading's HTML id is the English slug"
    assert 'href="#results"' in zh_other, "an in-page link to an English slug resolves too"
    assert "搜索本书" in zh_page


def test_the_chinese_edition_is_complete_and_current():
    """Every cell, caption, page and part caption of the book is translated from its current English.

    When the English of a cell or page changes, this fails until the translation follows:
    `python -m medkit i18n status` lists what is stale, with the English diff.
    """
    from medkit.book import i18n

    report = i18n.status(check=True)
    stale = {s: [u.id for u in states if u.state != "translated"] for s, states in report.chapters.items()}
    stale = {s: ids for s, ids in stale.items() if ids}
    pages = [p.name for p in report.pages if p.state != "translated"]
    assert not stale and not pages and report.toc == "translated", (
        f"not translated (or stale): chapters {stale}, pages {pages}, part captions {report.toc}; "
        "run `python -m medkit i18n status`")
    assert report.coverage == 1.0
    assert not report.problems, report.problems[:5]
