"""``python -m medkit site``: build the Jupyter Book from the executed notebooks.

The book is never executed by Jupyter Book itself: ``python -m medkit run``
executes each notebook exactly once into ``_build/executed/``. This command
stages a copy of the book's sources in ``_build/site_src/`` that mirrors the
repository (``book/``, ``notebooks/``, ``_config.yml``, ``_toc.yml``), puts the
executed notebooks in place of the unexecuted ones, and runs
``jupyter-book build`` with warnings as errors. The HTML lands in
``_build/html``.

The staged ``_config.yml`` is the repository's with the buttons that need a public
repository (repository, issues, Binder and Colab launch) switched on only when
``repository.url`` is set there (:func:`site_config`); the page's download button
needs no repository and is always there.

The Chinese edition (issue 16, medkit/book/i18n.py) is built from the same executed notebooks right after
the English one: :func:`stage_zh` copies the English staging into ``_build/site_src_zh/``, applies the
translations to the notebooks and pages (English under a "待翻译" marker where a translation is stale or
missing, so the build works at any coverage), translates the part captions, and writes the configuration
overlay (:func:`zh_config`: ``language: zh_CN``, the title and the theme strings of
``i18n/zh_CN/ui.json``, Chinese search with jieba and a dictionary of the glossary's headwords). Its
notebooks show the glued text values in Chinese (``i18n/zh_CN/glue.json``) and the figures' Chinese
drawings where the runner made them; its execution report and errata table are generated in Chinese.
Its HTML lands in ``_build/html/zh/``; every page of both editions links to its counterpart.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from typing import Any

import nbformat
import yaml

from medkit import REPO_ROOT
from medkit.book import i18n, repro
from medkit.book.runner import BUILD_DIR, discover_notebooks
from medkit.classroom.markup import BEGIN_MARKER, END_MARKER, HIDDEN_TEST_TAG, SOLUTION_TAG, SUFFIX_MARKER, role_of

STAGED_FILES = ("_toc.yml",)  # _config.yml is written by site_config
STAGED_DIRS = ("book",)
CONFIG_FILE = "_config.yml"
LAUNCH_KEYS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url")


def strip_for_publication(nb: nbformat.NotebookNode, lang: str = "en") -> nbformat.NotebookNode:
    """Prepare an executed notebook for the site (the edition in language ``lang``).

    Hidden-test cells go (the page's download button must not hand them to
    students), and the grading markers inside solutions go too: on the page a
    solution should read as plain code. A figure's drawings in other languages
    (``image/vnd.medkit.<lang>+png``, written by the book's runner) go as well;
    for ``zh`` the Chinese drawing takes the place of the English ``image/png``
    (:func:`medkit.book.i18n.publish_figures`).
    """
    i18n.publish_figures(nb, lang)
    nb.cells = [c for c in nb.cells if role_of(c) != HIDDEN_TEST_TAG]
    for cell in nb.cells:
        if cell.cell_type == "code" and role_of(cell) == SOLUTION_TAG:
            lines = []
            for line in cell.source.splitlines():
                if BEGIN_MARKER.match(line) or END_MARKER.match(line):
                    continue
                suffixed = SUFFIX_MARKER.match(line)
                lines.append(suffixed.group("code") if suffixed else line)
            cell.source = "\n".join(lines)
    return nb


def site_config(config: dict[str, Any], source: str = CONFIG_FILE) -> dict[str, Any]:
    """The book's configuration as the site is built with it: repository buttons only when there is a repository.

    ``repository.url`` in ``_config.yml`` is the one place that says where the book's repository is.
    Set, the pages get the repository and issues buttons and the launch buttons of ``launch_buttons``
    (Binder, Colab); empty or absent, none of them, because each would lead nowhere. Jupyter Book's
    own default address (its own repository) is never used.

    Parameters
    ----------
    config : dict
        ``_config.yml`` as read by ``yaml.safe_load`` (not modified).
    source : str
        Where it came from, for the error message.

    Returns
    -------
    dict
        A copy with ``html.use_repository_button``, ``html.use_issues_button``, ``repository.url`` and
        ``launch_buttons`` set accordingly.

    Raises
    ------
    ValueError
        ``repository.url`` is set but is not an ``https://`` address.

    Examples
    --------
    >>> site_config({"repository": {"url": ""}, "launch_buttons": {"colab_url": "https://colab.research.google.com"}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'repository': {'url': ''}, 'launch_buttons': {'colab_url': '', 'binderhub_url': '', 'jupyterhub_url': '',
     'deepnote_url': '', 'thebe': False}, 'html': {'use_repository_button': False, 'use_issues_button': False,
     'use_edit_page_button': False}}
    >>> cfg = site_config({"repository": {"url": "https://github.com/me/medkit"},
    ...                    "launch_buttons": {"colab_url": "https://colab.research.google.com"}})
    >>> cfg["html"]["use_repository_button"], cfg["launch_buttons"]["colab_url"]
    (True, 'https://colab.research.google.com')
    """
    out = copy.deepcopy(config)
    repository = out.setdefault("repository", {}) or {}
    out["repository"] = repository
    url = str(repository.get("url") or "").strip()
    if url and not url.startswith("https://"):
        raise ValueError(f"{source}: repository.url must be an https:// address or empty, got {url!r}.")
    repository["url"] = url
    html = out.setdefault("html", {}) or {}
    out["html"] = html
    html["use_repository_button"] = html["use_issues_button"] = bool(url)
    if not url:
        html["use_edit_page_button"] = False
        launch = out.setdefault("launch_buttons", {}) or {}
        out["launch_buttons"] = launch
        launch.update({key: "" for key in LAUNCH_KEYS})
        launch["thebe"] = False
    return out


def write_site_config(staging: Path, source: Path = REPO_ROOT / CONFIG_FILE) -> dict[str, Any]:
    """Write :func:`site_config` of ``source`` to ``staging/_config.yml``; return it."""
    config = site_config(yaml.safe_load(source.read_text(encoding="utf-8")) or {}, str(source))
    (staging / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    url = config["repository"]["url"]
    state = f"on, for {url}" if url else f"off (repository.url is empty in {CONFIG_FILE})"
    print(f"repository and launch buttons: {state}", flush=True)
    return config


def stage(build_dir: Path = BUILD_DIR, zh: bool = True, i18n_dir: Path = i18n.I18N_DIR) -> Path:
    """Assemble ``build_dir/site_src`` from the sources and the executed notebooks."""
    results_path = build_dir / "results.json"
    executed_dir = build_dir / "executed"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    problems = []
    for notebook in discover_notebooks():
        executed = executed_dir / notebook.name
        entry = results.get(notebook.stem)
        if not executed.exists() or entry is None:
            problems.append(f"{notebook.stem}: not executed (run `python -m medkit run` first)")
        elif entry.get("status") != "ok":
            problems.append(f"{notebook.stem}: execution {entry.get('status')}: {entry.get('error', '')}")
        elif executed.stat().st_mtime < notebook.stat().st_mtime:
            problems.append(f"{notebook.stem}: notebooks/{notebook.name} changed after it was executed; re-run it")
    if problems:
        raise SystemExit("cannot build the site:\n  " + "\n  ".join(problems))

    staging = build_dir / "site_src"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    config = write_site_config(staging)
    if zh:
        config = edition_config(config, "en", build_dir / SLUGS_FILE)
        (staging / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                           encoding="utf-8")
    for name in STAGED_FILES:
        shutil.copy2(REPO_ROOT / name, staging / name)
    for name in STAGED_DIRS:
        shutil.copytree(REPO_ROOT / name, staging / name)
    (staging / "notebooks").mkdir()
    for notebook in discover_notebooks():
        nb = strip_for_publication(nbformat.read(executed_dir / notebook.name, as_version=4))
        nbformat.write(nb, staging / "notebooks" / notebook.name)
    # The execution report page is in _toc.yml, so the site cannot be built without it: no fallback.
    repro.write_report_page(staging, results, i18n_dir)
    return staging


# --------------------------------------------------------------------------- the Chinese edition

ZH_DIR = "zh"
SLUGS_FILE = "heading_slugs.json"  # the English build's heading slugs per page (medkit/book/sphinxext.py)
SEARCH_DICT_FILE = "zh_search_dict.txt"
UI_FILE = i18n.I18N_DIR / "ui.json"
_CJK_TERM = re.compile(f"^[{i18n.CJK}A-Za-z0-9 ·（）()\\-]*[\u4e00-\u9fff][{i18n.CJK}A-Za-z0-9·（）()\\-]*$")


def edition_config(config: dict[str, Any], edition: str, slugs: Path) -> dict[str, Any]:
    """``config`` with the language switcher on (``medkit_edition``) and the heading slugs' file named."""
    out = copy.deepcopy(config)
    sphinx = out.setdefault("sphinx", {}) or {}
    out["sphinx"] = sphinx
    sphinx["recursive_update"] = True
    conf = sphinx.setdefault("config", {}) or {}
    sphinx["config"] = conf
    conf["medkit_edition"] = edition
    conf["medkit_slugs_out" if edition == "en" else "medkit_slugs_in"] = str(slugs.resolve())
    theme = conf.setdefault("html_theme_options", {}) or {}
    conf["html_theme_options"] = theme
    theme["article_header_end"] = ["article-header-buttons.html", "medkit-lang-switch.html"]
    return out


def load_ui(path: Path = UI_FILE) -> dict[str, str]:
    """The Chinese edition's own strings (title, search box, toggle hints): ``i18n/zh_CN/ui.json``."""
    try:
        ui = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{path}: cannot read the Chinese edition's strings: {err}") from err
    missing = [k for k in ("title", "search_bar_text", "togglebutton_hint", "togglebutton_hint_hide") if k not in ui]
    if missing:
        raise SystemExit(f"{path}: missing {', '.join(missing)}")
    return ui


def zh_config(config: dict[str, Any], ui: dict[str, str], search_dict: Path, slugs: Path) -> dict[str, Any]:
    """The Chinese edition's configuration: the English site's with the overlay of the module docstring.

    Examples
    --------
    >>> ui = {"title": "书", "search_bar_text": "搜索", "togglebutton_hint": "显示", "togglebutton_hint_hide": "隐藏"}
    >>> cfg = zh_config({"title": "Book", "sphinx": {"config": {"myst_heading_anchors": 3}}}, ui,
    ...                 Path("/d.txt"), Path("/s.json"))
    >>> cfg["title"], cfg["sphinx"]["config"]["language"], cfg["sphinx"]["config"]["myst_heading_anchors"]
    ('书', 'zh_CN', 3)
    >>> cfg["sphinx"]["config"]["html_search_options"], cfg["sphinx"]["config"]["medkit_edition"]
    ({'dict': '/d.txt'}, 'zh_CN')
    """
    out = edition_config(config, "zh_CN", slugs)
    out["title"] = ui["title"]
    conf = out["sphinx"]["config"]
    conf["language"] = i18n.LANG
    conf["html_search_language"] = "zh"
    conf["html_search_options"] = {"dict": str(search_dict)}
    conf["html_theme_options"]["search_bar_text"] = ui["search_bar_text"]
    conf["togglebutton_hint"] = ui["togglebutton_hint"]
    conf["togglebutton_hint_hide"] = ui["togglebutton_hint_hide"]
    return out


def glossary_terms(*pages: Path) -> list[str]:
    """The Chinese headwords of the glossary pages (term lines of their ``{glossary}`` blocks).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "g.md"
    >>> _ = p.write_text("```{glossary}\\nCross-entropy\\n交叉熵\\n  The loss.\\n```\\n交叉熵损失 here\\n")
    >>> glossary_terms(p)
    ['交叉熵']
    """
    terms: list[str] = []
    for page in pages:
        if not page.exists():
            continue
        inside = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if re.match(r"^\s*(`{3,}|:{3,})\{glossary\}", line):
                inside = True
            elif inside and re.match(r"^\s*(`{3,}|:{3,})\s*$", line):
                inside = False
            elif inside and line and not line[0].isspace():
                for part in re.split(r"\s*[·/、,，;；]\s*", line.strip()):
                    part = re.sub(r"[（(][^）)]*[）)]", "", part).strip()
                    if part and _CJK_TERM.match(part) and part not in terms:
                        terms.append(part)
    return terms


def write_search_dict(path: Path, terms: list[str]) -> Path:
    """A jieba user dictionary: one glossary term a line, frequent enough to stay one word."""
    path.write_text("".join(f"{t.replace(' ', '')} 100000 n\n" for t in terms), encoding="utf-8")
    return path


def stage_zh(build_dir: Path = BUILD_DIR, i18n_dir: Path = i18n.I18N_DIR) -> tuple[Path, list[str]]:
    """Assemble ``build_dir/site_src_zh`` from the English staging: translated notebooks, pages, captions.

    The notebooks are the executed ones (``build_dir/executed``, or the English staging's copies where
    there are none) with their Chinese figures (:func:`strip_for_publication` with ``zh``), markdown
    cells and captions (:func:`medkit.book.i18n.translate_notebook`) and glued text values
    (:func:`medkit.book.i18n.translate_glue`, from ``i18n/zh_CN/glue.json``; a value with no
    translation keeps its English and is printed). The execution report and the errata table are
    generated in Chinese (:func:`medkit.book.repro.write_report_page` with ``lang="zh"``).

    Returns the staging directory and one line per notebook or page on its translation state.
    """
    english = build_dir / "site_src"
    staging = build_dir / "site_src_zh"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(english, staging)
    shutil.rmtree(staging / "book")
    shutil.copytree(REPO_ROOT / "book", staging / "book")
    lines = []
    glue = i18n.load_glue_catalog(i18n_dir)
    for path in sorted((english / "notebooks").glob("*.ipynb")):
        executed = build_dir / "executed" / path.name
        nb = nbformat.read(executed if executed.exists() else path, as_version=4)
        figures = i18n.figure_states(nb) if executed.exists() else []
        if executed.exists():
            nb = strip_for_publication(nb, "zh")
        zh_nb, states = i18n.translate_notebook(nb, i18n.load_chapter(path.stem, i18n_dir))
        untranslated = i18n.translate_glue(zh_nb, glue)
        nbformat.write(zh_nb, staging / "notebooks" / path.name)
        done = sum(s.state == "translated" for s in states)
        line = f"{path.stem}: {done}/{len(states)} translated"
        if figures:
            line += f", {sum(f.drawn for f in figures)}/{len(figures)} figures in Chinese"
        lines.append(line + (f", {len(untranslated)} glued text value(s) in English" if untranslated else ""))
        for name, value in untranslated:
            print(f"Chinese edition: {path.stem}: glued value {name} = {value!r} has no translation in "
                  f"{i18n_dir / i18n.GLUE_FILE}; it stays English", flush=True)
        for f in figures:
            if f.untranslated:
                print(f"Chinese edition: {path.stem} cell {f.cell}: figure strings with no translation: "
                      f"{f.untranslated}", flush=True)
    for name in i18n.toc_pages(REPO_ROOT / "_toc.yml"):
        page = i18n.page_state(name, REPO_ROOT, i18n_dir)
        (staging / f"{name}.md").write_text(page.text, encoding="utf-8")
        lines.append(f"{name}.md: {page.state}")
    toc_state, toc_text = i18n.translated_toc(REPO_ROOT / "_toc.yml", i18n_dir)
    (staging / "_toc.yml").write_text(toc_text, encoding="utf-8")
    lines.append(f"_toc.yml part captions: {toc_state}")
    results_path = build_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    repro.write_report_page(staging, results, i18n_dir, lang="zh", english_dir=english / "notebooks")
    lines.append("book/execution_report.md and the errata table: generated in Chinese")
    config = yaml.safe_load((english / CONFIG_FILE).read_text(encoding="utf-8"))
    terms = glossary_terms(REPO_ROOT / "book" / "glossary.md", staging / "book" / "glossary.md")
    search_dict = write_search_dict(build_dir / SEARCH_DICT_FILE, terms)
    config = zh_config(config, load_ui(i18n_dir / "ui.json"), search_dict.resolve(), build_dir / SLUGS_FILE)
    (staging / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return staging, lines


def jupyter_book(staging: Path, out: Path, strict: bool) -> Path:
    """``jupyter-book build staging`` into ``out``; returns the HTML directory."""
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(staging),
           "--path-output", str(out), "--builder", "html", "--quiet"]  # warnings only, not Sphinx's progress
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    return out / "_build" / "html"


def build(build_dir: Path = BUILD_DIR, strict: bool = True, zh: bool = True,
          i18n_dir: Path = i18n.I18N_DIR) -> Path:
    """Stage and build the English edition and (``zh``) the Chinese one; returns ``build_dir/html``."""
    start = time.perf_counter()
    staging = stage(build_dir, zh=zh, i18n_dir=i18n_dir)
    built = jupyter_book(staging, build_dir / "site_out", strict)
    html = build_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.move(str(built), str(html))
    print(f"English edition built in {time.perf_counter() - start:.1f} s: open {html / 'index.html'}", flush=True)
    if zh:
        start_zh = time.perf_counter()
        try:
            staging_zh, lines = stage_zh(build_dir, i18n_dir)
        except i18n.CatalogError as err:
            raise SystemExit(f"cannot build the Chinese edition: {err}") from err
        print("Chinese edition: " + "; ".join(lines), flush=True)
        built = jupyter_book(staging_zh, build_dir / "site_out_zh", strict)
        shutil.move(str(built), str(html / ZH_DIR))
        print(f"Chinese edition built in {time.perf_counter() - start_zh:.1f} s: "
              f"open {html / ZH_DIR / 'index.html'}")
    print(f"site built in {time.perf_counter() - start:.1f} s")
    return html


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    parser.add_argument("--no-zh", action="store_true",
                        help="build the English edition only (no language switcher then)")
    parser.add_argument("--i18n-dir", type=Path, default=i18n.I18N_DIR,
                        help="the Chinese catalogs (default i18n/zh_CN)")


def main(args: argparse.Namespace) -> int:
    build(args.build_dir, strict=not args.no_strict, zh=not args.no_zh, i18n_dir=args.i18n_dir)
    return 0
