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
- ``glue.json``: the Chinese of the glued *text* values the prose quotes (verdicts, the chosen fusion,
  chapter 7's summaries), per glued name, as exact values or small templates (:class:`GlueCatalog`).
  The Chinese build puts them in place of the English in its copies of the executed notebooks
  (:func:`translate_glue`); names, numbers, the English edition and ``medkit repro`` are unchanged.
  Every text value of ``reproducibility/expected.json`` must have one (:func:`glue_states`).
- ``errata.json``: the Chinese of the descriptions of the errata table's rows (``book/errata.json``),
  with the English they translate (:func:`medkit.book.errata.load_translations`).

Figures: an executed notebook's figure may carry a Chinese drawing (``image/vnd.medkit.zh+png``, from
the book's runner and :mod:`medkit.plots`); :func:`publish_figures` shows it in the Chinese edition and
removes it from every published notebook. ``i18n status`` counts the figures drawn in Chinese and lists
the strings a drawing left untranslated.

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


def translate_notebook(nb: nbformat.NotebookNode, catalog: Catalog | None,
                       glue: GlueCatalog | None = None) -> tuple[nbformat.NotebookNode, list[UnitState]]:
    """A copy of ``nb`` with its markdown cells and figure captions in Chinese where the catalog is current.

    Stale or missing markdown cells keep their English under :data:`PENDING_MARKER`; a stale or missing
    caption keeps its English caption prefixed with "（待翻译）". Code and metadata are untouched; so are
    the outputs, unless ``glue`` is given: then the glued text values are translated too
    (:func:`translate_glue`; the site's Chinese build calls that itself, to report what stays English).
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
    if glue is not None:
        translate_glue(out, glue)
    return out, states


# --------------------------------------------------------------------------- glued text values

GLUE_FILE = "glue.json"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([\w-]+))?\}")
#: Built-in placeholder rules: their text is copied into the translation as it is.
BUILTIN_RULES = {"number": r"-?\d+(?:\.\d+)?", "identifier": r"[A-Za-z_][\w.]*", "text": r".+?"}


def needs_translation(value: Any) -> bool:
    """Whether a glued value is text a reader has to read: a string with letters that is not a number.

    Examples
    --------
    >>> needs_translation("late"), needs_translation("inf"), needs_translation("0.25"), needs_translation(0.5)
    (True, False, False, False)
    """
    if not isinstance(value, str) or not re.search(r"[A-Za-z]", value):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


class GlueCatalog:
    """``i18n/zh_CN/glue.json``: the Chinese of the glued text values the chapters' code can produce.

    The file is ``{"language": "zh_CN", "rules": {NAME: RULE}, "glue": {GLUE NAME: RULE}}``; each glued
    name has a rule, and ``rules`` holds named rules that others refer to. A rule is an object with one
    or more of

    - ``"values"``: ``{English: 中文}``, the exact English values (a verdict's alternatives, the fusions);
    - ``"templates"``: ``[{"en": ..., "zh": ...}]``, tried in order, for values composed at run time.
      ``{slot:rule}`` in ``en`` matches what ``rule`` (a named rule or a built-in: ``number``,
      ``identifier``, ``text``, copied as they are; ``{slot}`` alone is ``text``) matches, and
      ``{slot}`` in ``zh`` is its translation. A template ``""`` matches nothing: an optional part;
    - ``"list"``: the name of the rule of the items of an English list, with ``"sep"`` (``", "``),
      ``"last"`` (the separator before the last item, e.g. ``" and "``; default ``sep``) and their
      Chinese ``"zh_sep"`` and ``"zh_last"``;
    - ``"rule"``: the name of another rule to use (as a whole);
    - ``"source"``: where the values are made, for the translator (not read).

    A glued list of strings is translated item by item with its name's rule. ``values`` wins over
    ``templates``; the first template that matches is used.

    Examples
    --------
    >>> cat = GlueCatalog({"rules": {"m": {"values": {"the image": "影像", "the note": "临床记录"}},
    ...                              "ms": {"list": "m", "sep": ", ", "last": " and ", "zh_sep": "、",
    ...                                     "zh_last": "和"}},
    ...                    "glue": {"flagged": {"values": {"no modality": "无"}, "rule": "ms"},
    ...                             "best": {"templates": [{"en": "without {m:m}", "zh": "去掉{m}时"}]}}})
    >>> cat.translate("flagged", "the image and the note"), cat.translate("flagged", "no modality")
    ('影像和临床记录', '无')
    >>> cat.translate("best", "without the note"), cat.translate("best", "with all") is None
    ('去掉临床记录时', True)
    """

    def __init__(self, data: dict[str, Any], path: Path | str = GLUE_FILE):
        self.path = str(path)
        if not isinstance(data, dict) or not isinstance(data.get("glue", {}), dict) \
                or not isinstance(data.get("rules", {}), dict):
            raise CatalogError(f"{path}: expected an object with 'glue' and 'rules' objects")
        self.rules: dict[str, dict[str, Any]] = dict(data.get("rules", {}))
        self.glue: dict[str, dict[str, Any]] = dict(data.get("glue", {}))
        self._regex: dict[str, str] = {}
        for kind, table in (("rule", self.rules), ("glue", self.glue)):
            for name, rule in table.items():
                self._validate(f"{path}: {kind} {name!r}", rule)
        for kind, table in (("rules", self.rules), ("glue", self.glue)):
            for name, rule in table.items():
                self._pattern(rule, f"{kind}.{name}")  # undefined or circular references fail here

    def _validate(self, where: str, rule: Any) -> None:
        if not isinstance(rule, dict):
            raise CatalogError(f"{where}: a rule must be an object, got {type(rule).__name__}")
        unknown = set(rule) - {"values", "templates", "list", "sep", "last", "zh_sep", "zh_last", "rule",
                               "source", "note"}
        if unknown:
            raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}")
        if not {"values", "templates", "list", "rule"} & set(rule):
            raise CatalogError(f"{where}: needs 'values', 'templates', 'list' or 'rule'")
        values = rule.get("values", {})
        if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                    for k, v in values.items()):
            raise CatalogError(f"{where}: 'values' must map English strings to non-empty translations")
        templates = rule.get("templates", [])
        if not isinstance(templates, list):
            raise CatalogError(f"{where}: 'templates' must be a list")
        for i, t in enumerate(templates):
            if not (isinstance(t, dict) and isinstance(t.get("en"), str) and isinstance(t.get("zh"), str)):
                raise CatalogError(f"{where}: template {i} must be {{'en': ..., 'zh': ...}}")
            slots = [m.group(1) for m in _PLACEHOLDER.finditer(t["en"])]
            if len(slots) != len(set(slots)):
                raise CatalogError(f"{where}: template {i} repeats a slot: {t['en']!r}")
            extra = {m.group(1) for m in _PLACEHOLDER.finditer(t["zh"])} - set(slots)
            if extra:
                raise CatalogError(f"{where}: template {i}: the Chinese uses slot(s) {sorted(extra)} that the "
                                   "English does not have")
        for key in ("list", "rule"):
            if key in rule and not isinstance(rule[key], str):
                raise CatalogError(f"{where}: '{key}' must name a rule")

    def _named(self, name: str, where: str) -> dict[str, Any] | str:
        if name in BUILTIN_RULES:
            return name
        if name not in self.rules:
            raise CatalogError(f"{self.path}: {where} refers to rule {name!r}, which 'rules' does not define")
        return self.rules[name]

    def _pattern(self, rule: dict[str, Any] | str, where: str, depth: int = 0) -> str:
        """A regular expression (no groups) matching every English text ``rule`` translates."""
        if isinstance(rule, str):
            return BUILTIN_RULES[rule]
        if depth > 20:
            raise CatalogError(f"{self.path}: {where}: rules refer to each other in a circle")
        key = f"{id(rule)}"
        if key in self._regex:
            return self._regex[key]
        alternatives = [re.escape(v) for v in sorted(rule.get("values", {}), key=len, reverse=True)]
        for t in rule.get("templates", []):
            alternatives.append(self._template_regex(t["en"], where, depth, groups=False))
        if "list" in rule:
            item = f"(?:{self._pattern(self._named(rule['list'], where), where, depth + 1)})"
            sep, last = re.escape(rule.get("sep", ", ")), re.escape(rule.get("last", rule.get("sep", ", ")))
            alternatives.append(f"{item}(?:(?:{sep}{item})*{last}{item})?")
        if "rule" in rule:
            alternatives.append(self._pattern(self._named(rule["rule"], where), where, depth + 1))
        self._regex[key] = "(?:" + "|".join(f"(?:{a})" for a in alternatives) + ")"
        return self._regex[key]

    def _template_regex(self, en: str, where: str, depth: int, groups: bool) -> str:
        out, pos = [], 0
        for m in _PLACEHOLDER.finditer(en):
            out.append(re.escape(en[pos:m.start()]))
            inner = self._pattern(self._named(m.group(2) or "text", where), where, depth + 1)
            out.append(f"(?P<{m.group(1)}>{inner})" if groups else f"(?:{inner})")
            pos = m.end()
        out.append(re.escape(en[pos:]))
        return "".join(out)

    def _apply(self, rule: dict[str, Any] | str, text: str, where: str, depth: int = 0) -> str | None:
        if isinstance(rule, str):  # a built-in: copied
            return text if re.fullmatch(BUILTIN_RULES[rule], text) else None
        if depth > 20:
            return None
        if text in rule.get("values", {}):
            return rule["values"][text]
        for t in rule.get("templates", []):
            m = re.fullmatch(self._template_regex(t["en"], where, depth, groups=True), text, re.S)
            if not m:
                continue
            parts = {}
            for slot in _PLACEHOLDER.finditer(t["en"]):
                sub = self._apply(self._named(slot.group(2) or "text", where), m.group(slot.group(1)), where,
                                  depth + 1)
                if sub is None:
                    break
                parts[slot.group(1)] = sub
            else:
                return _PLACEHOLDER.sub(lambda s, done=parts: done[s.group(1)], t["zh"])
        if "list" in rule:
            items = self._split_list(rule, text, where, depth)
            if items is not None:
                item_rule = self._named(rule["list"], where)
                done = [self._apply(item_rule, i, where, depth + 1) for i in items]
                if all(d is not None for d in done):
                    sep, last = rule.get("zh_sep", "、"), rule.get("zh_last", rule.get("zh_sep", "、"))
                    return done[0] if len(done) == 1 else sep.join(done[:-1]) + last + done[-1]
        if "rule" in rule:
            return self._apply(self._named(rule["rule"], where), text, where, depth + 1)
        return None

    def _split_list(self, rule: dict[str, Any], text: str, where: str, depth: int) -> list[str] | None:
        item = self._pattern(self._named(rule["list"], where), where, depth + 1)
        sep, last = re.escape(rule.get("sep", ", ")), re.escape(rule.get("last", rule.get("sep", ", ")))
        if re.fullmatch(item, text, re.S):
            return [text]
        m = re.fullmatch(f"(?P<head>(?:{item})(?:{sep}(?:{item}))*){last}(?P<tail>{item})", text, re.S)
        if not m:
            return None
        head, items = m.group("head"), []
        while True:  # split the head at its separators, item by item
            step = re.fullmatch(f"(?P<first>{item})(?:{sep}(?P<rest>(?:{item})(?:{sep}(?:{item}))*))?", head,
                                re.S)
            if not step:
                return None
            items.append(step.group("first"))
            if step.group("rest") is None:
                return items + [m.group("tail")]
            head = step.group("rest")

    def translate(self, name: str, value: str) -> str | None:
        """The Chinese of glued text ``value`` of ``name``; ``None`` when the catalog has none."""
        rule = self.glue.get(name)
        return None if rule is None else self._apply(rule, value, f"glue {name!r}")

    def translate_value(self, name: str, value: Any) -> Any:
        """``value`` with its text translated (a list item by item); ``None`` if some text has no translation."""
        if not isinstance(value, list):
            return self.translate(name, value) if needs_translation(value) else value
        out = []
        for item in value:
            done = self.translate(name, item) if needs_translation(item) else item
            if done is None:
                return None
            out.append(done)
        return out


def load_glue_catalog(i18n_dir: Path = I18N_DIR) -> GlueCatalog:
    """``i18n_dir/glue.json`` (an empty catalog when there is none).

    Raises
    ------
    CatalogError
        The file is not JSON, or a rule is malformed or refers to a rule that does not exist.
    """
    path = i18n_dir / GLUE_FILE
    if not path.exists():
        return GlueCatalog({}, path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CatalogError(f"{path}: not a readable JSON catalog: {err}") from err
    if data.get("language", LANG) != LANG:
        raise CatalogError(f"{path}: language is {data.get('language')!r}, expected {LANG!r}")
    return GlueCatalog(data, path)


def _glue_outputs(nb: nbformat.NotebookNode):
    """``(output, name)`` of every glued output (the papermill record of ``medkit.glue.glue``)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name and output.get("output_type") in ("display_data", "execute_result"):
                yield output, name


def translate_glue(nb: nbformat.NotebookNode, catalog: GlueCatalog) -> list[tuple[str, str]]:
    """Replace, in place, the text of ``nb``'s glued text values by their Chinese; return the untranslated.

    Only the stored ``text/plain`` (a Python repr, with or without the papermill record prefix) of a
    value that :func:`needs_translation` changes; the glued name stays, numbers stay. Returns
    ``(name, English)`` for every value with no translation (it keeps its English).
    """
    import ast

    missing = []
    for output, name in _glue_outputs(nb):
        for key in [k for k in output.get("data", {}) if k.endswith("text/plain")]:
            try:
                value = ast.literal_eval(output["data"][key])
            except (ValueError, SyntaxError):
                continue
            texts = value if isinstance(value, list) else [value]
            if not any(needs_translation(v) for v in texts):
                continue
            done = catalog.translate_value(name, value)
            if done is None:
                missing.append((name, str(value)))
                continue
            output["data"][key] = repr(done)
            for alt in [k for k in output["data"] if k.endswith("text/html") or k.endswith("text/markdown")]:
                del output["data"][alt]  # an English rich form would win over the translated text
    return missing


def reference_text_values(repo: Path = REPO_ROOT) -> dict[str, set[str]]:
    """Every glued text value of ``reproducibility/expected.json`` (full and smoke) a reader reads, by name."""
    path = repo / "reproducibility" / "expected.json"
    out: dict[str, set[str]] = {}
    if not path.exists():
        return out
    reference = json.loads(path.read_text(encoding="utf-8"))
    for section in ("full", "smoke"):
        for entry in reference.get(section, {}).values():
            for name, value in entry.get("values", {}).items():
                v = value.get("value")
                for text in (v if isinstance(v, list) else [v]):
                    if needs_translation(text):
                        out.setdefault(name, set()).add(text)
    return out


@dataclass
class GlueState:
    name: str
    en: str
    state: str  # translated | missing
    zh: str = ""


def glue_states(repo: Path = REPO_ROOT, i18n_dir: Path = I18N_DIR) -> list[GlueState]:
    """The translation of each glued text value in the reference (sorted by name, then value)."""
    catalog = load_glue_catalog(i18n_dir)
    states = []
    for name, texts in sorted(reference_text_values(repo).items()):
        for text in sorted(texts):
            zh = catalog.translate(name, text)
            states.append(GlueState(name, text, "missing" if zh is None else "translated", zh or ""))
    return states


# --------------------------------------------------------------------------- figures drawn in Chinese

#: MIME type of a figure's Chinese drawing in an executed notebook (``medkit.plots.alternate_mime("zh")``).
ZH_FIGURE_MIME = "image/vnd.medkit.zh+png"
_ALT_FIGURE = re.compile(r"^(?P<prefix>.*?)image/vnd\.medkit\.[\w-]+\+png$")


@dataclass
class FigureState:
    stem: str
    cell: str  # cell id
    drawn: bool  # a Chinese drawing exists
    untranslated: list[str] = field(default_factory=list)


def _figure_outputs(nb: nbformat.NotebookNode):
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            prefixes = [k[:-len("image/png")] for k in data if k.endswith("image/png")]
            for prefix in prefixes:
                yield cell, output, prefix


def figure_states(nb: nbformat.NotebookNode, stem: str = "") -> list[FigureState]:
    """Each figure (an ``image/png`` output, glued or not) of an executed notebook: drawn in Chinese or not,
    and the English strings its Chinese drawing left untranslated."""
    states = []
    for cell, output, prefix in _figure_outputs(nb):
        drawn = prefix + ZH_FIGURE_MIME in output.get("data", {})
        md = output.get("metadata", {})
        meta = md.get(prefix + ZH_FIGURE_MIME) or md.get(ZH_FIGURE_MIME) or {}
        states.append(FigureState(stem, cell.get("id", ""), drawn, list(meta.get("untranslated", []))
                                  if drawn and isinstance(meta, dict) else []))
    return states


def publish_figures(nb: nbformat.NotebookNode, lang: str = "en") -> nbformat.NotebookNode:
    """Make ``nb``'s figures those of edition ``lang``, in place: every alternate drawing goes.

    For ``zh``, a figure with a Chinese drawing (``image/vnd.medkit.zh+png``) shows it as its
    ``image/png``, with the Chinese drawing's ``width``/``height`` (its tight crop follows the translated
    labels, so it may differ from the English one by a few pixels); the alternate keys (every
    ``image/vnd.medkit.*+png``, data and metadata, with or without the papermill record prefix) are
    removed for every edition, so no download carries them.

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook()
    >>> out = nbformat.v4.new_output("display_data", data={"image/png": "EN", ZH_FIGURE_MIME: "ZH"},
    ...                              metadata={"image/png": {"width": 4}, ZH_FIGURE_MIME: {"width": 5}})
    >>> nb.cells = [nbformat.v4.new_code_cell("plot()", outputs=[out])]
    >>> zh = publish_figures(copy.deepcopy(nb), "zh").cells[0].outputs[0]
    >>> dict(zh.data), dict(zh.metadata)
    ({'image/png': 'ZH'}, {'image/png': {'width': 5}})
    >>> dict(publish_figures(nb, "en").cells[0].outputs[0].metadata)
    {'image/png': {'width': 4}}
    """
    wanted = "zh" if lang.lower().startswith("zh") else lang
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data, md = output.get("data", {}), output.get("metadata", {})
            for key in [k for k in data if _ALT_FIGURE.match(k)]:
                prefix = _ALT_FIGURE.match(key).group("prefix")
                drawing = data.pop(key)
                if key == prefix + f"image/vnd.medkit.{wanted}+png" and prefix + "image/png" in data:
                    data[prefix + "image/png"] = drawing
                    # its own size: the tight crop follows the translated labels
                    size = {k: v for k, v in md.get(key, {}).items() if k in ("width", "height")}
                    if size:
                        md.setdefault(prefix + "image/png", {}).update(size)
            for key in [k for k in md if _ALT_FIGURE.match(k)]:
                del md[key]
    return nb


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
    glue: list[GlueState] = field(default_factory=list)
    errata: list[tuple[str, str]] = field(default_factory=list)  # (row id, state)
    figures: list[FigureState] | None = None  # None: no executed notebooks to look at

    def counts(self) -> Counter:
        c: Counter = Counter()
        for states in self.chapters.values():
            c.update(s.state for s in states)
        c.update(p.state for p in self.pages)
        c[self.toc] += 1
        c.update(g.state for g in self.glue)
        c.update(state for _, state in self.errata)
        return c

    @property
    def coverage(self) -> float:
        """Translated units (cells, captions, pages, the table of contents, glued text values, errata rows)
        / all of them. Figures are reported beside it (:attr:`figures`), not counted."""
        c = self.counts()
        total = sum(c.values())
        return c["translated"] / total if total else 1.0


def errata_states(repo: Path = REPO_ROOT, i18n_dir: Path = I18N_DIR) -> list[tuple[str, str]]:
    """``(row id, state)`` of the Chinese of each row of ``book/errata.json`` (i18n/zh_CN/errata.json)."""
    from medkit.book import errata

    path = repo / "book" / "errata.json"
    if not path.exists():
        return []
    try:
        rows = errata.load_rows(path)
        translations = errata.load_translations(i18n_dir / "errata.json")
    except ValueError as err:
        raise CatalogError(str(err)) from err
    return [(errata.row_id(r), errata.translated_example(r, translations)[0]) for r in rows]


def executed_figures(executed_dir: Path) -> list[FigureState] | None:
    """Every figure of the executed notebooks in ``executed_dir`` (``None`` when there are none)."""
    paths = sorted(executed_dir.glob("[0-9][0-9]_*.ipynb")) if executed_dir.is_dir() else []
    if not paths:
        return None
    return [f for path in paths for f in figure_states(nbformat.read(path, as_version=4), path.stem)]


def status(repo: Path = REPO_ROOT, i18n_dir: Path = I18N_DIR, check: bool = False,
           executed_dir: Path | None = None) -> Report:
    """The translation state of every chapter (from ``notebooks/``), page, glued text value of the reference
    and errata row, and the figures of ``executed_dir`` (default ``<repo>/_build/executed``); with
    ``check``, run :func:`check_translation` on every translated entry and page too."""
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
    figures = executed_figures(executed_dir or repo / "_build" / "executed")
    return Report(chapters, pages, toc_state, orphans, problems, glue_states(repo, i18n_dir),
                  errata_states(repo, i18n_dir), figures)


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
    if report.glue:
        rows.append(("glued text values", sum(g.state == "translated" for g in report.glue), len(report.glue)))
    if report.errata:
        rows.append(("errata table rows", sum(s == "translated" for _, s in report.errata), len(report.errata)))
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
    if report.glue:
        done = sum(g.state == "translated" for g in report.glue)
        print(f"glued text values (i18n/zh_CN/glue.json): {done}/{len(report.glue)} translated")
        for g in report.glue:
            if g.state != "translated":
                print(f"  missing {g.name}: {g.en!r}")
    if report.errata:
        done = sum(s == "translated" for _, s in report.errata)
        print(f"errata table rows (i18n/zh_CN/errata.json): {done}/{len(report.errata)} translated")
        for rid, state in report.errata:
            if state != "translated":
                print(f"  {state:7} {rid}")
    if report.figures is not None:
        drawn = sum(f.drawn for f in report.figures)
        print(f"figures drawn in Chinese (executed notebooks): {drawn}/{len(report.figures)}")
        for f in report.figures:
            if f.untranslated:
                print(f"  {f.stem} {f.cell}: untranslated {f.untranslated}")
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
        figures = None if report.figures is None else {
            "drawn": sum(f.drawn for f in report.figures), "total": len(report.figures),
            "with_untranslated_strings": sum(bool(f.untranslated) for f in report.figures)}
        print(json.dumps({"coverage": report.coverage, **{k: c[k] for k in ("translated", "stale", "missing")},
                          "problems": report.problems, "figures": figures}, ensure_ascii=False))
    else:
        print_report(report, args.repo, verbose=not args.brief)
        for problem in report.problems:
            print(f"problem: {problem}")
    c = report.counts()
    return 1 if c["stale"] or c["missing"] or report.problems else 0
