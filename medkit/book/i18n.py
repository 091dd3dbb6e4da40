"""The Chinese edition's translations: catalogs, their application to the executed notebooks, and checks.

``python -m medkit i18n status`` lists, per chapter and page, what is translated, stale and missing;
``python -m medkit site`` builds ``_build/html/zh/`` from copies of the executed notebooks with the
translations applied by :func:`translate_notebook` (the notebooks are never executed again).

Catalog format (``i18n/zh_CN/``, fixed for the translators; see the issue):

- ``notebooks/<stem>.json``: ``{"language", "source", "entries": [{"id", "field", "en", "zh"}]}``, one
  entry per markdown cell (``field`` ``"source"``) and per figure caption of a code cell (``"caption"``,
  ``cell.metadata["mystnb"]["figure"]["caption"]``), keyed by the nbformat cell id. A translation is used
  only while its ``en`` equals the cell's current English; otherwise the page shows the English with a
  visible "待翻译 · translation pending" marker (:data:`PENDING_MARKER`), never an outdated translation.
  A cell whose id changed but whose English did not (a tool re-keyed it) still finds its translation by
  its English text.
- ``book/<name>.md``: the whole page, first line
  ``<!-- i18n-source: book/<name>.md sha256=<hex> -->`` naming the hash of the English page it translates.
- ``toc.json``: ``{"source_sha256", "captions": {English: 中文}}`` for the part captions of ``_toc.yml``.

:func:`check_translation` lists what a translation must keep verbatim and did not (glue roles, maths,
directive and option lines, cross-reference roles, inline code, labels, headings' levels, link targets)
and hard-wrapped Chinese paragraphs. The book's chapter on the build is ``book/how_to_use.md``.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from medkit import REPO_ROOT
from medkit.book import myst

LANG = "zh_CN"
I18N_DIR = REPO_ROOT / "i18n" / LANG
#: The first line of a cell or page whose translation is stale or missing.
PENDING_MARKER = '<span class="i18n-pending" lang="zh-CN">待翻译 · translation pending</span>'
PAGE_HEADER = re.compile(r"^<!--\s*i18n-source:\s*(?P<path>\S+)\s+sha256=(?P<sha>[0-9a-f]{64})\s*-->\s*$")
#: Pages generated at build time (no catalog can translate them).
GENERATED_PAGES = ("book/execution_report",)


class CatalogError(ValueError):
    """A catalog that cannot be read: names the file and what is wrong."""


# --------------------------------------------------------------------------- catalogs


@dataclass
class Entry:
    id: str
    field: str
    en: str
    zh: str


@dataclass
class Catalog:
    path: Path
    source: str
    entries: list[Entry] = field(default_factory=list)

    def lookup(self) -> dict[tuple[str, str], Entry]:
        return {(e.id, e.field): e for e in self.entries}


def load_catalog(path: Path) -> Catalog:
    """Read and validate one chapter catalog.

    Raises
    ------
    CatalogError
        The file is not JSON, or an entry lacks a key, has a wrong type or repeats an (id, field).

    Examples
    --------
    >>> import tempfile, json
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> _ = p.write_text(json.dumps({"language": "zh_CN", "source": "notebooks/x.ipynb",
    ...     "entries": [{"id": "c1", "field": "source", "en": "# Hi", "zh": "# 你好"}]}))
    >>> load_catalog(p).entries[0].zh
    '# 你好'
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CatalogError(f"{path}: not a readable JSON catalog: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise CatalogError(f"{path}: expected an object with an 'entries' list")
    if data.get("language", LANG) != LANG:
        raise CatalogError(f"{path}: language is {data.get('language')!r}, expected {LANG!r}")
    catalog = Catalog(path, str(data.get("source", "")))
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(data["entries"]):
        where = f"{path}: entry {i}"
        if not isinstance(raw, dict):
            raise CatalogError(f"{where}: not an object")
        for key in ("id", "field", "en", "zh"):
            if not isinstance(raw.get(key), str):
                raise CatalogError(f"{where}: '{key}' missing or not a string")
        if raw["field"] not in ("source", "caption"):
            raise CatalogError(f"{where} ({raw['id']}): field must be 'source' or 'caption', got {raw['field']!r}")
        key = (raw["id"], raw["field"])
        if key in seen:
            raise CatalogError(f"{where}: ({raw['id']}, {raw['field']}) appears twice")
        seen.add(key)
        catalog.entries.append(Entry(raw["id"], raw["field"], raw["en"], raw["zh"]))
    return catalog


def catalog_path(stem: str, i18n_dir: Path = I18N_DIR) -> Path:
    return i18n_dir / "notebooks" / f"{stem}.json"


def load_chapter(stem: str, i18n_dir: Path = I18N_DIR) -> Catalog | None:
    path = catalog_path(stem, i18n_dir)
    return load_catalog(path) if path.exists() else None


def source_units(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """The translatable strings of a notebook, in order: ``(cell id, field, English)``.

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_markdown_cell("# T", id="a"), nbformat.v4.new_code_cell("1", id="b")]
    >>> nb.cells[1].metadata["mystnb"] = {"figure": {"caption": "A plot."}}
    >>> source_units(nb)
    [('a', 'source', '# T'), ('b', 'caption', 'A plot.')]
    """
    units = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            units.append((cell.id, "source", cell.source))
        elif cell.cell_type == "code":
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
            if isinstance(caption, str):
                units.append((cell.id, "caption", caption))
    return units


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pending(text: str) -> str:
    """English text shown in the Chinese edition in place of a stale or missing translation."""
    return f"{PENDING_MARKER}\n\n{text}"


# --------------------------------------------------------------------------- applying


@dataclass
class UnitState:
    id: str
    field: str
    en: str
    state: str  # translated | stale | missing
    zh: str = ""
    old_en: str = ""


def unit_states(nb: nbformat.NotebookNode, catalog: Catalog | None) -> list[UnitState]:
    """Each translatable string of ``nb`` with its state against ``catalog``.

    Matching is by (cell id, field); an entry is used only when its ``en`` equals the current English.
    A cell whose id changed but whose English is unchanged is matched by its English text.
    """
    lookup = catalog.lookup() if catalog else {}
    by_text: dict[tuple[str, str], Entry] = {}
    for entry in (catalog.entries if catalog else []):
        by_text.setdefault((entry.field, entry.en), entry)
    states = []
    for cid, fld, en in source_units(nb):
        entry = lookup.get((cid, fld))
        if entry is not None and entry.en == en and entry.zh.strip():
            states.append(UnitState(cid, fld, en, "translated", entry.zh))
        elif (other := by_text.get((fld, en))) is not None and other.zh.strip():
            states.append(UnitState(cid, fld, en, "translated", other.zh))
        elif entry is not None and entry.zh.strip():
            states.append(UnitState(cid, fld, en, "stale", entry.zh, entry.en))
        else:
            states.append(UnitState(cid, fld, en, "missing"))
    return states


def translate_notebook(nb: nbformat.NotebookNode,
                       catalog: Catalog | None) -> tuple[nbformat.NotebookNode, list[UnitState]]:
    """A copy of ``nb`` with its markdown cells and figure captions in Chinese where the catalog is current.

    Stale or missing markdown cells keep their English under :data:`PENDING_MARKER`; a stale or missing
    caption keeps its English caption prefixed with "（待翻译）". Code, outputs and metadata are untouched.
    """
    out = copy.deepcopy(nb)
    states = unit_states(out, catalog)
    by_key = {(s.id, s.field): s for s in states}
    for cell in out.cells:
        if cell.cell_type == "markdown":
            state = by_key[(cell.id, "source")]
            cell.source = state.zh if state.state == "translated" else pending(cell.source)
        elif (cell.id, "caption") in by_key:
            state = by_key[(cell.id, "caption")]
            figure = cell.metadata["mystnb"]["figure"]
            figure["caption"] = state.zh if state.state == "translated" else "（待翻译）" + figure["caption"]
    out.metadata["language"] = LANG
    return out, states


@dataclass
class PageState:
    name: str  # e.g. book/intro
    state: str  # translated | stale | missing
    text: str  # what the Chinese edition shows
    zh_sha: str = ""


def page_state(name: str, repo: Path = REPO_ROOT, i18n_dir: Path = I18N_DIR) -> PageState:
    """The Chinese edition of ``book/<name>.md``: its translation, or the English under the marker."""
    english_path = repo / f"{name}.md"
    english = english_path.read_text(encoding="utf-8")
    zh_path = i18n_dir / f"{name}.md"
    if not zh_path.exists():
        return PageState(name, "missing", pending_page(english))
    first, _, rest = zh_path.read_text(encoding="utf-8").partition("\n")
    match = PAGE_HEADER.match(first)
    if not match:
        raise CatalogError(f"{zh_path}: the first line must be '<!-- i18n-source: {name}.md sha256=<hex> -->'")
    if match["sha"] != sha256_file(english_path):
        return PageState(name, "stale", pending_page(english), match["sha"])
    return PageState(name, "translated", rest, match["sha"])


def pending_page(english: str) -> str:
    """The English page with the marker under its leading labels and title."""
    lines = english.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or myst.TARGET.match(lines[i].strip())
                              or lines[i].startswith("<!--")):
        i += 1
    if i < len(lines) and lines[i].startswith("# "):
        i += 1
    return "\n".join(lines[:i] + ["", PENDING_MARKER, ""] + lines[i:])


def toc_pages(toc_path: Path = REPO_ROOT / "_toc.yml") -> list[str]:
    """The book pages (not chapters, not generated pages) in ``_toc.yml``, as ``book/<name>``."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [f for f in files if f.startswith("book/") and f not in GENERATED_PAGES]


def translated_toc(toc_path: Path = REPO_ROOT / "_toc.yml", i18n_dir: Path = I18N_DIR) -> tuple[str, str]:
    """``(state, text)``: ``_toc.yml`` with its part captions in Chinese when toc.json is current."""
    text = toc_path.read_text(encoding="utf-8")
    path = i18n_dir / "toc.json"
    if not path.exists():
        return "missing", text
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sha, captions = data["source_sha256"], data["captions"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CatalogError(f"{path}: expected {{'source_sha256': ..., 'captions': {{...}}}}: {err}") from err
    if sha != sha256_file(toc_path):
        return "stale", text
    toc = yaml.safe_load(text)
    for part in toc.get("parts", []):
        if part.get("caption") in captions:
            part["caption"] = captions[part["caption"]]
    return "translated", yaml.safe_dump(toc, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- checks

CJK = "\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"
_ENDS_CJK = re.compile(f"[{CJK}]$")
_STARTS_CJK = re.compile(f"^[{CJK}]")
_FREE_TITLE = {"admonition", "exercise", "solution", "solution-start", "dropdown"}
#: The directive options kept verbatim (an ``:alt:`` or a ``:caption:`` is text, translated).
_VERBATIM_OPTIONS = ("label", "class", "nonumber", "name")


def _split_code(text: str) -> tuple[str, list[str]]:
    """Prose with fenced code blocks removed, and the code blocks (directive fences stay in the prose)."""
    prose, blocks, block, fence = [], [], [], None
    directives: list[str] = []  # the fences of open ```{directive} blocks: their closing ``` is prose
    for line in text.split("\n"):
        if fence is None:
            m = myst.CODE_FENCE.match(line)
            if m and m["rest"].strip().startswith("{"):
                directives.append(m["fence"])
            elif m and directives and not m["rest"].strip() and m["fence"] == directives[-1]:
                directives.pop()
            elif m:
                fence, block = m["fence"], [line]
                continue
            prose.append(line)
        else:
            block.append(line)
            closing = line.strip()
            if closing.startswith(fence) and not closing.strip(fence[0]):
                blocks.append("\n".join(block))
                fence = None
    if fence is not None:
        blocks.append("\n".join(block))
    return "\n".join(prose), blocks


def _roles(text: str) -> list[tuple[str, str]]:
    out = []
    for role, body in myst.REFERENCE_ROLE.findall(text):
        m = myst.EXPLICIT.match(body)
        target = m["target"] if m and role in ("ref", "doc", "numref", "term") else body
        out.append((role, target if role != "term" else "term"))
    return out


def _structure(text: str) -> dict[str, Any]:
    prose, code_blocks = _split_code(text)
    maths = myst.DISPLAY_MATH.findall(prose)
    no_display = myst.DISPLAY_MATH.sub(" ", prose)
    no_code = myst.CODE_SPAN.sub(" ", myst.GLUE_ROLE.sub(" ", myst.REFERENCE_ROLE.sub(" ", no_display)))
    lines = prose.split("\n")
    directives = []
    for line in lines:
        d = myst.directive(line)
        if d:
            directives.append((d[0], d[1], "" if d[1] in _FREE_TITLE else d[2]))
        elif myst.COLON_CLOSE.match(line):
            directives.append((line.strip(), "", ""))
    return {
        "glue role": Counter(myst.GLUE_ROLE.findall(prose)),
        "maths": Counter(maths + [f"${m}$" for m in myst.INLINE_MATH.findall(no_code)]),
        "role": Counter(_roles(prose)),
        "inline code": Counter(" ".join(c.split()) for c in myst.CODE_SPAN.findall(
            myst.REFERENCE_ROLE.sub(" ", myst.GLUE_ROLE.sub(" ", no_display)))),
        "code block": code_blocks,
        "directive line": directives,
        "option line": [line.strip() for line in lines
                        if (m := myst.OPTION.match(line.strip())) and m["key"] in _VERBATIM_OPTIONS],
        "label": [m["label"] for line in lines if (m := myst.TARGET.match(line.strip()))],
        "heading level": [m["hashes"] for line in lines if (m := myst.HEADING.match(line))],
        "link target": Counter(myst.LINK.findall(no_code)),
        "HTML comment": myst.COMMENT.findall(prose),
        "HTML tag": Counter(t for t in myst.HTML_TAG.findall(myst.COMMENT.sub(" ", no_code))),
    }


def hard_wraps(zh: str) -> list[int]:
    """Line numbers (1-based) where a Chinese paragraph is hard-wrapped (CJK at the end and the next start).

    Examples
    --------
    >>> hard_wraps("交叉熵衡量\\n两个分布的差别。\\n\\n- 一\\n- 二")
    [1]
    """
    prose, _ = _split_code(zh)
    lines = myst.DISPLAY_MATH.sub(lambda m: "\n" * m.group(0).count("\n"), prose).split("\n")
    out = []
    for i in range(len(lines) - 1):
        a, b = lines[i].rstrip(), lines[i + 1]
        table_or_heading = b.startswith(("|", "#")) or a.lstrip().startswith("|")
        if _ENDS_CJK.search(a) and _STARTS_CJK.match(b) and not table_or_heading:
            out.append(i + 1)
    return out


def check_translation(en: str, zh: str) -> list[str]:
    """What a translation changed that must stay verbatim, and Chinese hard wraps; empty when it is fine.

    Kept verbatim: glue roles, ``$``/``$$`` maths, directive lines (an admonition's or exercise's title
    may be translated) and their closing fences, option lines (``:label:``, ``:class:``, ``:nonumber:``,
    ``:name:``), roles (``{cite..}``, ``{numref}``, ``{ref}``, ``{doc}``, ``{eq}``; the link text of a
    ``{ref}``/``{doc}`` may differ), inline code and fenced code, ``(label)=`` lines, heading levels,
    link targets, HTML comments and tags.

    Examples
    --------
    >>> en = "The loss is {glue:text}`ce:.3f` for $p$ (see {ref}`sec-x`)."
    >>> check_translation(en, "损失为 {glue:text}`ce:.3f`，对应 $p$（见 {ref}`第一节 <sec-x>`）。")
    []
    >>> check_translation(en, "损失为 0.105，对应 $p$（见 {ref}`sec-x`）。")
    ['glue role: missing {glue:text}`ce:.3f`']
    """
    if not zh.strip():
        return ["empty translation"]
    a, b = _structure(en), _structure(zh)
    problems = []
    for key, want in a.items():
        got = b[key]
        if want == got:
            continue
        if isinstance(want, Counter):
            for item in sorted(map(str, (want - got).elements())):
                problems.append(f"{key}: missing {_show(item)}")
            for item in sorted(map(str, (got - want).elements())):
                problems.append(f"{key}: not in the English {_show(item)}")
        else:
            problems.append(f"{key}s differ: English {want!r}, translation {got!r}")
    for line in hard_wraps(zh):
        problems.append(f"hard-wrapped Chinese paragraph at line {line} (one paragraph = one line)")
    return problems


def _show(item: str) -> str:
    return item if len(item) <= 80 else item[:77] + "..."


# --------------------------------------------------------------------------- status


@dataclass
class Report:
    chapters: dict[str, list[UnitState]]
    pages: list[PageState]
    toc: str
    orphans: dict[str, list[Entry]]
    problems: list[str] = field(default_factory=list)

    def counts(self) -> Counter:
        c: Counter = Counter()
        for states in self.chapters.values():
            c.update(s.state for s in states)
        c.update(p.state for p in self.pages)
        c[self.toc] += 1
        return c

    @property
    def coverage(self) -> float:
        """Translated units (cells, captions, pages, the table of contents) / all of them."""
        c = self.counts()
        total = sum(c.values())
        return c["translated"] / total if total else 1.0


def status(repo: Path = REPO_ROOT, i18n_dir: Path = I18N_DIR, check: bool = False) -> Report:
    """The translation state of every chapter (from ``notebooks/``) and page; with ``check``, run
    :func:`check_translation` on every translated entry and page too."""
    from medkit.book.runner import discover_notebooks

    chapters, orphans, problems = {}, {}, []
    for path in discover_notebooks(repo / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        catalog = load_chapter(path.stem, i18n_dir)
        states = unit_states(nb, catalog)
        chapters[path.stem] = states
        current = {(u[0], u[1]) for u in source_units(nb)}
        used_texts = {s.en for s in states if s.state == "translated"}
        orphans[path.stem] = [e for e in (catalog.entries if catalog else [])
                              if (e.id, e.field) not in current and e.en not in used_texts]
        if check:
            for s in states:
                if s.state == "translated":
                    problems += [f"{path.stem} {s.id} ({s.field}): {p}" for p in check_translation(s.en, s.zh)]
    pages = [page_state(name, repo, i18n_dir) for name in toc_pages(repo / "_toc.yml")]
    if check:
        for p in pages:
            if p.state == "translated":
                english = (repo / f"{p.name}.md").read_text(encoding="utf-8")
                problems += [f"{p.name}.md: {q}" for q in check_translation(english, p.text)]
    toc_state, _ = translated_toc(repo / "_toc.yml", i18n_dir)
    return Report(chapters, pages, toc_state, orphans, problems)


def english_at(sha: str, name: str, repo: Path = REPO_ROOT, limit: int = 200) -> str | None:
    """The English page whose sha256 is ``sha``, found in the git history (for a stale page's diff)."""
    try:
        revs = subprocess.run(["git", "log", f"-{limit}", "--format=%H", "--", f"{name}.md"], cwd=repo,
                              capture_output=True, text=True, timeout=30).stdout.split()
        for rev in revs:
            blob = subprocess.run(["git", "show", f"{rev}:{name}.md"], cwd=repo, capture_output=True, timeout=30)
            if blob.returncode == 0 and hashlib.sha256(blob.stdout).hexdigest() == sha:
                return blob.stdout.decode("utf-8")
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{name} (translated from)", f"{name} (now)",
                                 lineterm="", n=1)
    return "\n".join("      " + line for line in lines)


def coverage_rows(report: Report) -> list[tuple[str, int, int]]:
    """``(chapter or page group, translated, total)`` for the execution report's table."""
    rows = [(stem, sum(s.state == "translated" for s in states), len(states))
            for stem, states in report.chapters.items()]
    rows.append(("book pages", sum(p.state == "translated" for p in report.pages), len(report.pages)))
    rows.append(("_toc.yml part captions", int(report.toc == "translated"), 1))
    return rows


def print_report(report: Report, repo: Path = REPO_ROOT, verbose: bool = True) -> None:
    for stem, states in report.chapters.items():
        c = Counter(s.state for s in states)
        print(f"{stem}: {c['translated']}/{len(states)} translated, {c['stale']} stale, {c['missing']} missing"
              + (f", {len(report.orphans[stem])} obsolete entries" if report.orphans[stem] else ""))
        for s in states:
            if s.state == "stale":
                print(f"  stale   {s.id} ({s.field})")
                if verbose:
                    print(diff(s.old_en, s.en, f"{stem} {s.id}"))
            elif s.state == "missing" and verbose:
                print(f"  missing {s.id} ({s.field}): {s.en.splitlines()[0][:70] if s.en else ''}")
        for e in report.orphans[stem]:
            print(f"  obsolete {e.id} ({e.field}): no such cell with that English any more")
    for p in report.pages:
        print(f"{p.name}.md: {p.state}")
        if p.state == "stale" and verbose:
            old = english_at(p.zh_sha, p.name, repo)
            new = (repo / f"{p.name}.md").read_text(encoding="utf-8")
            print(diff(old, new, p.name + ".md") if old is not None
                  else f"      (English of sha256 {p.zh_sha[:12]} not found in git history)")
    print(f"_toc.yml part captions: {report.toc}")
    c = report.counts()
    total = sum(c.values())
    print(f"coverage: {c['translated']}/{total} = {100 * report.coverage:.1f}% "
          f"({c['stale']} stale, {c['missing']} missing)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["status"], help="status: what is translated, stale and missing")
    parser.add_argument("--check", action="store_true",
                        help="also check every translation keeps roles, maths, directives and labels verbatim")
    parser.add_argument("--brief", action="store_true", help="no diffs and no list of missing cells")
    parser.add_argument("--json", action="store_true", help="print the coverage as JSON")
    parser.add_argument("--i18n-dir", type=Path, default=I18N_DIR, help="the catalogs (default i18n/zh_CN)")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT,
                        help="the book's root (notebooks/, book/, _toc.yml); default this repository")


def main(args: argparse.Namespace) -> int:
    try:
        report = status(args.repo, args.i18n_dir, check=args.check)
    except CatalogError as err:
        print(f"error: {err}")
        return 2
    if args.json:
        c = report.counts()
        print(json.dumps({"coverage": report.coverage, **{k: c[k] for k in ("translated", "stale", "missing")},
                          "problems": report.problems}, ensure_ascii=False))
    else:
        print_report(report, args.repo, verbose=not args.brief)
        for problem in report.problems:
            print(f"problem: {problem}")
    c = report.counts()
    return 1 if c["stale"] or c["missing"] or report.problems else 0
