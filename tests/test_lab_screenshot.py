"""JupyterLab, opened by headless Chromium on the reader copies of chapters 1 and 6, shows no raw MyST and the numbers.

This is what a student sees after ``make lab``: the test starts JupyterLab on
reader copies written by :func:`medkit.book.reader.build_lab`, loads each
chapter in headless Chromium, and reads the rendered page (``--dump-dom``):
every glue role of the chapter became a number (an ``<abbr>``), the numbers are
those of the reference run, and no ``{glue``, ``:::{`` or ``{cite`` is left.
Screenshots are written to ``$MEDKIT_SHOTS_DIR`` (or the test's temporary
folder). Skipped, saying why, where Chromium is not installed.
"""
from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from medkit.book import reader

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = [REPO / "notebooks" / "01_cross_entropy.ipynb", REPO / "notebooks" / "06_multimodal_model.ipynb"]
EXPECTED = json.loads((REPO / "reproducibility" / "expected.json").read_text())
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("kernels"),
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, tmp_path_factory):
    """JupyterLab serving ``root`` on a free port, with no token: yields its URL."""
    settings = tmp_path_factory.mktemp("settings")
    # no news pop-up over the page; every cell rendered (JupyterLab otherwise renders only what is in view)
    for plugin, values in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                           "notebook-extension/tracker": {"windowingMode": "none"}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("workspaces"))}
    command = reader.jupyter_command(root, ["--no-browser", f"--port={port}", "--ServerApp.token=",
                                            "--ServerApp.password=", "--ServerApp.open_browser=False"])
    log = open(root.parent / f"jupyter-{root.name}.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(root.parent / f'jupyter-{root.name}.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    reader.build_lab(root, CHAPTERS, executed_dir=None, book_dir=None)
    with jupyterlab(root, tmp_path_factory) as url:
        yield url, root


@pytest.fixture(scope="module")
def lab_server_zh(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab_zh")
    reader.build_lab(root, CHAPTERS[:1], executed_dir=None, book_dir=None, lang="zh")
    with jupyterlab(root, tmp_path_factory) as url:
        yield url, root


def chromium(url: str, *args: str, height: int = 1600) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size=1300,{height}",
                           "--virtual-time-budget=30000", *args, url],
                          capture_output=True, text=True, timeout=180)


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MEDKIT_SHOTS_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
@pytest.mark.parametrize("folder", ["notebooks", "student"])
def test_jupyterlab_shows_a_readable_chapter(lab_server, chapter, folder, tmp_path):
    url, _root = lab_server
    page = f"{url}/lab/tree/{folder}/{chapter.name}?reset"  # a fresh workspace: only this chapter open
    dom = chromium(page, "--dump-dom").stdout
    assert "jp-MarkdownOutput" in dom, f"JupyterLab did not render {page} (page of {len(dom)} characters)"
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    for raw in ("{glue", ":::{", "{cite", "{numref", "{doc}", "{solution", "{exercise}"):
        assert raw not in text, f"{folder}/{chapter.name}: raw MyST {raw!r} on the page"
    # every glue role of the chapter's text became a number on the page: the reference run's, as the book formats it
    source = nbformat.read(chapter, as_version=4)
    roles = [m.group(1) for c in source.cells if c.cell_type == "markdown" for m in GLUE_ROLE.finditer(c.source)]
    shown = re.findall(r'<abbr title="([\w]+) \(reference run[^"]*\)">([^<]*)</abbr>', dom)
    assert len(shown) == len(roles) > 0
    expected = EXPECTED["full"][chapter.stem]["values"]
    for role, (name, value_text) in zip(roles, shown, strict=True):
        key, _, spec = role.partition(":")
        assert name == key
        assert value_text == reader.format_value(expected[key]["value"], spec), (key, value_text)
    assert "IProgress not found" not in text
    if folder == "notebooks" or chapter.stem.startswith("06"):
        shot = shots_dir(tmp_path) / f"{folder}_{chapter.stem}.png"
        chromium(page, f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 20_000, f"no screenshot of {page}"



@pytest.mark.parametrize("folder", ["notebooks", "student"])
def test_jupyterlab_shows_the_chinese_chapter_on_the_chinese_kernel(lab_server_zh, folder, tmp_path):
    url, root = lab_server_zh
    chapter = CHAPTERS[0]
    page = f"{url}/lab/tree/{folder}/{chapter.name}?reset"
    dom = chromium(page, "--dump-dom").stdout
    assert "jp-MarkdownOutput" in dom, f"JupyterLab did not render {page} (page of {len(dom)} characters)"
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert "交叉熵" in text and "练习 1.1" in text, f"{folder}: no Chinese prose or exercise heading"
    for raw in ("{glue", ":::{", "{cite", "{numref", "{exercise}"):
        assert raw not in text, f"zh {folder}/{chapter.name}: raw MyST {raw!r} on the page"
    expected = EXPECTED["full"][chapter.stem]["values"]
    shown = re.findall(r'<abbr title="([\w]+) \(reference run[^"]*\)">([^<]*)</abbr>', dom)
    assert shown and all(name in expected for name, _ in shown)
    # the copy names the Chinese kernel, under which figures and self-checks speak Chinese
    assert nbformat.read(root / folder / chapter.name, as_version=4).metadata["kernelspec"]["name"] == "medkit-zh"
    shot = shots_dir(tmp_path) / f"zh_{folder}_{chapter.stem}.png"
    chromium(page, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 20_000, f"no screenshot of {page}"
