"""Render pages of the built site in a real browser (headless Chromium) and say what it saw.

    python tools/render_pages.py                      # index + capstone of _build/html into _build/screenshots
    python tools/render_pages.py --html DIR --out DIR book/intro.html notebooks/01_cross_entropy.html
    python tools/render_pages.py --install            # install Debian's chromium first if it is missing
    python tools/render_pages.py --overflow book/execution_report.html   # what scrolls sideways, measured

For each page it writes ``NAME.png`` (a 1200x900 screenshot) and ``NAME.dom.html`` (the DOM after the
page's scripts ran: MathJax, the solution toggles), and prints one line of figures: the share of pixels
that are not the background colour, the number of distinct colours, whether MathJax typeset the formulas
and how many solution blocks are folded. Exit status 1 when a page renders blank, 2 when no browser is
found. Used by tests/test_site.py.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=5000"]
WINDOW = (1200, 900)


def find_browser() -> str | None:
    """The Chromium executable: $CHROMIUM, else the first of :data:`BROWSERS` on the PATH."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


NOT_FROM_TESTS = ("chromium is not installed, and the tests install nothing: `make setup` installs it where "
                  "apt-get may be used (else `sudo apt-get install chromium`, or set CHROMIUM=/path/to/chrome)")


def install_browser() -> tuple[str | None, str]:
    """Install Debian's ``chromium`` with apt-get when we may; returns (path or None, what happened).

    Never from inside pytest (``make test`` installs no system package): there it returns ``None``
    and says how to install it. ``make setup`` (tools/system_deps.py) is the usual way.
    """
    if os.environ.get("PYTEST_CURRENT_TEST"):
        return None, NOT_FROM_TESTS
    if os.environ.get("MEDKIT_NO_BROWSER_INSTALL"):
        return None, "MEDKIT_NO_BROWSER_INSTALL is set"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "no apt-get on this machine (not Debian/Ubuntu)"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None, "not root: install it with `sudo apt-get install -y chromium`"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = []
    install = [apt, "install", "-y", "--no-install-recommends"]
    # a small CJK font, so the glossary's Chinese renders as characters and not as boxes
    for cmd in (install + ["chromium", "fonts-wqy-microhei"], [apt, "update"],
                install + ["chromium", "fonts-wqy-microhei"], install + ["chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        log.append(f"$ {' '.join(cmd)} -> {proc.returncode}")
        if cmd[1] == "install" and proc.returncode == 0 and find_browser():
            return find_browser(), "installed with apt-get"
        if proc.returncode != 0:
            log.append(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
    return None, "apt-get could not install chromium: " + " | ".join(x for x in log if x)


def ensure_browser(install: bool = False) -> tuple[str | None, str]:
    """(the browser or None, what happened); ``install`` tries apt-get, except inside pytest."""
    browser = find_browser()
    if browser:
        return browser, "found"
    if not install:
        return None, ("chromium is not installed: `make setup` installs it where apt-get may be used "
                      "(else `sudo apt-get install chromium`, or set CHROMIUM=/path/to/chrome)")
    return install_browser()


def _run_browser(browser: str, args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="medkit-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def screenshot(browser: str, page: Path, png: Path) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    proc = _run_browser(browser, [f"--screenshot={png}", page.resolve().as_uri()])
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot of {page} (exit {proc.returncode}): {proc.stderr[-800:]}")
    return png


def dump_dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran."""
    proc = _run_browser(browser, ["--dump-dom", page.resolve().as_uri()])
    return proc.stdout


def fonts_used(browser: str, page: Path, selectors: tuple[str, ...] = ("h1", "article p"),
               per_selector: int = 6, timeout: float = 60.0) -> dict[str, int]:
    """The fonts Chromium drew the text of ``selectors`` with: ``{family: glyphs}``.

    Asks the browser itself (DevTools protocol, ``CSS.getPlatformFontsForNode``) which platform font
    rendered each glyph of the first ``per_selector`` elements of each selector, so a page whose
    Chinese falls back to no font (boxes) is told apart from one drawn with a CJK font. Uses tornado's
    websocket client, which Jupyter brings.
    """
    import asyncio
    import time
    import urllib.request

    from tornado.websocket import websocket_connect

    with tempfile.TemporaryDirectory(prefix="medkit-chromium-") as profile:
        cmd = [browser, *[f for f in FLAGS if not f.startswith("--virtual-time")], f"--user-data-dir={profile}",
               "--remote-debugging-port=0", f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file, deadline = Path(profile) / "DevToolsActivePort", time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"chromium opened no DevTools port for {page}")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                target = next(t for t in json.load(r) if t["type"] == "page")

            async def ask() -> dict[str, int]:
                ws = await websocket_connect(target["webSocketDebuggerUrl"])
                counter = 0

                async def call(method: str, **params: object) -> dict:
                    nonlocal counter
                    counter += 1
                    ws.write_message(json.dumps({"id": counter, "method": method, "params": params}))
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.read_message(), timeout))
                        if message.get("id") == counter:
                            if "error" in message:
                                raise RuntimeError(f"{method}: {message['error']}")
                            return message["result"]

                await call("Page.enable")
                await call("Page.navigate", url=page.resolve().as_uri())
                for _ in range(int(timeout * 10)):
                    state = await call("Runtime.evaluate", expression="document.readyState")
                    if state["result"].get("value") == "complete":
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # web fonts and MathJax settle
                await call("DOM.enable")
                await call("CSS.enable")
                root = (await call("DOM.getDocument", depth=-1))["root"]["nodeId"]
                used: dict[str, int] = {}
                for selector in selectors:
                    nodes = (await call("DOM.querySelectorAll", nodeId=root, selector=selector))["nodeIds"]
                    for node in nodes[:per_selector]:
                        for font in (await call("CSS.getPlatformFontsForNode", nodeId=node))["fonts"]:
                            used[font["familyName"]] = used.get(font["familyName"], 0) + font["glyphCount"]
                ws.close()
                return used

            return asyncio.run(ask())
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def cjk_font_families() -> set[str]:
    """Family names of the installed fonts that cover Chinese, as fontconfig lists them (empty without)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


_OVERFLOW_SCRIPT = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const wide = [];
  for (const el of document.querySelectorAll("article *")) {
    const style = getComputedStyle(el);
    if (el.scrollWidth > el.clientWidth + 1 && ["auto", "scroll"].includes(style.overflowX)) {
      wide.push({tag: el.tagName.toLowerCase(), cls: String(el.className).slice(0, 40),
                 text: (el.innerText || el.textContent).trim().slice(0, 60),
                 scroll: el.scrollWidth, client: el.clientWidth});
    }
  }
  const main = document.querySelector("article") || document.body;
  document.body.setAttribute("data-medkit-overflow", JSON.stringify({column: main.clientWidth, wide: wide}));
}, 500));
</script>"""


def sideways_scrolls(browser: str, page: Path, window_width: int = 1200) -> dict:
    """The elements of a page's article that scroll sideways, measured in the browser after layout.

    A copy of the page with a measuring script is opened at ``window_width`` (the book's column is
    then about 700 px wide); returns ``{"column": width of the article, "wide": [element, ...]}``, where
    each element has its tag, class, start of its text, ``scroll`` (content width) and ``client`` width.
    """
    copy = page.with_name(f".{page.stem}.measure.html")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", _OVERFLOW_SCRIPT + "</body>"),
                    encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory(prefix="medkit-chromium-") as profile:
            cmd = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={window_width},900",
                   "--dump-dom", copy.resolve().as_uri()]
            dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    finally:
        copy.unlink()
    m = re.search(r'data-medkit-overflow="([^"]*)"', dom)
    if m is None:
        raise RuntimeError(f"the measuring script did not run on {page}")
    import html as html_module

    return json.loads(html_module.unescape(m.group(1)))


def png_stats(png: Path) -> dict:
    """How much of the screenshot is not background, and how many colours it has."""
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        width, height = rgb.size
        colours = rgb.getcolors(maxcolors=width * height)  # [(count, (r, g, b)), ...]
    n_background, background = max(colours)
    return {"width": width, "height": height, "colours": len(colours),
            "ink": round(1 - n_background / (width * height), 4), "background": "#%02x%02x%02x" % background}


def dom_stats(dom: str) -> dict:
    return {
        "mathjax_typeset": dom.count("<mjx-container"),
        "raw_tex_left": len(re.findall(r"\\\(|\\\[", re.sub(r"<script.*?</script>", "", dom, flags=re.S))),
        "solutions": len(re.findall(r'class="[^"]*\bsolution\b', dom)),
        "solutions_folded": len(re.findall(r'class="[^"]*\bsolution\b[^"]*\btoggle-hidden\b|'
                                           r'class="[^"]*\btoggle-hidden\b[^"]*\bsolution\b', dom)),
        "images": dom.count("<img"),
    }


def is_blank(stats: dict) -> bool:
    return stats["ink"] < 0.01 or stats["colours"] < 8


def default_pages(html: Path) -> list[str]:
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "notebooks").glob("[0-9][0-9]_*.html"))
    capstone = [c for c in chapters if c.startswith("notebooks/06_")] or chapters[-1:]
    return ["index.html", *capstone]


def render(html: Path, out: Path, pages: list[str], browser: str) -> list[dict]:
    report = []
    for rel in pages:
        page = html / rel
        if not page.exists():
            raise FileNotFoundError(f"{page} does not exist: build the site first (`python -m medkit site`)")
        name = rel.replace("/", "__").removesuffix(".html")
        png = screenshot(browser, page, out / f"{name}.png")
        dom = dump_dom(browser, page)
        (out / f"{name}.dom.html").write_text(dom)
        entry = {"page": rel, "png": str(png), **png_stats(png), **dom_stats(dom)}
        entry["blank"] = is_blank(entry)
        report.append(entry)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="pages relative to the HTML folder (default: index + capstone)")
    parser.add_argument("--html", type=Path, default=REPO_ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "_build" / "screenshots")
    parser.add_argument("--install", action="store_true", help="install chromium with apt-get if it is missing")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--overflow", action="store_true",
                        help="instead of screenshots: list the elements of each page that scroll sideways")
    args = parser.parse_args(argv)
    browser, how = ensure_browser(install=args.install)
    if browser is None:
        print(f"no headless browser: {how}", file=sys.stderr)
        return 2
    if args.overflow:
        wide_pages = 0
        for rel in args.pages or default_pages(args.html):
            found = sideways_scrolls(browser, args.html / rel)
            wide_pages += bool(found["wide"])
            print(f"{rel}: column {found['column']} px, {len(found['wide'])} element(s) scroll sideways")
            for w in found["wide"]:
                print(f"    <{w['tag']} class={w['cls']!r}> {w['scroll']} px in {w['client']} px: {w['text']!r}")
        return 1 if wide_pages else 0
    report = render(args.html, args.out, args.pages or default_pages(args.html), browser)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in report:
            print(f"{r['page']:<40} {r['width']}x{r['height']}  ink {r['ink']:.1%}  {r['colours']} colours  "
                  f"MathJax {r['mathjax_typeset']}  solutions folded {r['solutions_folded']}/{r['solutions']}  "
                  f"images {r['images']}  {'BLANK' if r['blank'] else 'ok'}  -> {r['png']}")
    return 1 if any(r["blank"] for r in report) else 0


if __name__ == "__main__":
    sys.exit(main())
