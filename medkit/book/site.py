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
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from typing import Any

import nbformat
import yaml

from medkit import REPO_ROOT
from medkit.book import repro
from medkit.book.runner import BUILD_DIR, discover_notebooks
from medkit.classroom.markup import BEGIN_MARKER, END_MARKER, HIDDEN_TEST_TAG, SOLUTION_TAG, SUFFIX_MARKER, role_of

STAGED_FILES = ("_toc.yml",)  # _config.yml is written by site_config
STAGED_DIRS = ("book",)
CONFIG_FILE = "_config.yml"
LAUNCH_KEYS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url")


def strip_for_publication(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Prepare an executed notebook for the site.

    Hidden-test cells go (the page's download button must not hand them to
    students), and the grading markers inside solutions go too: on the page a
    solution should read as plain code.
    """
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


def stage(build_dir: Path = BUILD_DIR) -> Path:
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
    write_site_config(staging)
    for name in STAGED_FILES:
        shutil.copy2(REPO_ROOT / name, staging / name)
    for name in STAGED_DIRS:
        shutil.copytree(REPO_ROOT / name, staging / name)
    (staging / "notebooks").mkdir()
    for notebook in discover_notebooks():
        nb = strip_for_publication(nbformat.read(executed_dir / notebook.name, as_version=4))
        nbformat.write(nb, staging / "notebooks" / notebook.name)
    # The execution report page is in _toc.yml, so the site cannot be built without it: no fallback.
    repro.write_report_page(staging, results)
    return staging


def build(build_dir: Path = BUILD_DIR, strict: bool = True) -> Path:
    """Stage and build; returns the HTML directory (``build_dir/html``)."""
    start = time.perf_counter()
    staging = stage(build_dir)
    out = build_dir / "site_out"
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
    html = build_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.move(str(out / "_build" / "html"), str(html))
    print(f"site built in {time.perf_counter() - start:.1f} s: open {html / 'index.html'}")
    return html


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")


def main(args: argparse.Namespace) -> int:
    build(args.build_dir, strict=not args.no_strict)
    return 0
