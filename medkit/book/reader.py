"""``python -m medkit lab``: reader copies of the chapters that JupyterLab shows cleanly, and JupyterLab itself.

The chapters are written in MyST for Jupyter Book: glue roles
(``{glue:text}`name:.3f```), directives (``:::{admonition}``, ``:::{exercise}``,
``:::{solution-start}``, ``{glue:figure}``), citations (``{cite}`key```) and
cross-references (``{numref}``, ``{ref}``, ``{doc}``). JupyterLab renders
plain Markdown and LaTeX maths only, so a student opening ``notebooks/`` sees
raw markup and none of the numbers the prose talks about.

This module writes a *reader copy* of each chapter in which the markdown is
plain Markdown (with the few HTML tags JupyterLab keeps) and every glue role is
replaced by the value the notebook computed:

- glued numbers come from the reference run, ``reproducibility/expected.json``
  (default parameters), or from ``_build/executed/`` when ``make book`` ran
  there with default parameters (then its outputs, figures included, are kept);
  each number is underlined with a dotted line and names its source on hover;
- admonitions become block quotes with a bold title, exercises numbered
  headings, gated solutions ``solution-start``/``solution-end`` fold the code
  cells between them (``jupyter.source_hidden``), citations read
  "(Author, Year)" with a reference list at the end, cross-references become
  text or links to the other reader copies;
- cell ids, code cells, tags and the ``parameters`` cell are kept, so the copy
  still runs top to bottom and papermill can still execute it; the cell tags
  the book uses to hide plumbing (``remove-input``, ``hide-input``,
  ``remove-output``) fold the same parts in JupyterLab;
- path parameters (``data_dir = "../data_samples"``) are rewritten relative to
  where the copy is written, so the copy finds its data;
- the notebook metadata ``medkit.reader`` lists the text shown for each glued
  value, and :func:`medkit.glue.glue`, run in a JupyterLab kernel, prints a
  one-line note when a re-run computes something different (a changed
  parameter, another seed): the prose never silently contradicts the cells.

``python -m medkit lab`` writes instructor copies to ``_build/lab/notebooks/``,
student copies (see :mod:`medkit.classroom.student`) to ``_build/lab/student/``
and the book's pages to ``_build/lab/book/``, makes sure the ``medkit`` kernel
keeps TensorFlow's C++ start-up lines out of cell outputs
(:func:`ensure_kernel`), and starts JupyterLab there (with ``--allow-root``
when run as root). A copy the student has edited since it was written is kept,
not overwritten.
"""
from __future__ import annotations

import argparse
import ast
import base64
import codecs
import copy
import functools
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import nbformat

from medkit import KERNEL_NAME, KERNEL_NAME_ZH, REPO_ROOT
from medkit.book import myst
from medkit.glue import GLUE_PREFIX, format_value

EXPECTED_PATH = REPO_ROOT / "reproducibility" / "expected.json"
BIB_PATH = REPO_ROOT / "book" / "references.bib"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_DIR = REPO_ROOT / "book"
EXECUTED_DIR = REPO_ROOT / "_build" / "executed"
LAB_DIR = REPO_ROOT / "_build" / "lab"
MANIFEST = ".medkit-reader.json"

#: Environment of the ``medkit`` kernel: TensorFlow's C++ INFO lines off (warnings and errors stay).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "1"}
#: C-level writes to the kernel's stderr (absl/TensorFlow/CUDA start-up lines, written before any
#: log level is read) go to the terminal that started Jupyter, not into cell outputs; Python's
#: ``sys.stderr``, warnings and tracebacks still reach the cells.
KERNEL_FLAG = "--IPKernelApp.capture_fd_output=False"

ADMONITIONS = ("note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error", "seealso")


class ReaderError(ValueError):
    """A chapter cannot be turned into a reader copy (the message names the notebook and the problem)."""


# ---------------------------------------------------------------- values
def reference_values(stem: str, expected_path: Path = EXPECTED_PATH) -> dict[str, Any]:
    """Every value ``stem`` glued in the reference run (``expected.json``, default parameters).

    Raises
    ------
    ReaderError
        The file is missing or unreadable, or has no entry for ``stem``.
    """
    try:
        expected = json.loads(Path(expected_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReaderError(f"cannot read the reference values {expected_path}: {exc}") from exc
    entry = expected.get("full", {}).get(stem)
    if entry is None:
        raise ReaderError(f"{expected_path} has no reference run of {stem} (record it with "
                          "`python -m medkit repro --run --update`)")
    return {name: item["value"] for name, item in entry.get("values", {}).items()}


def executed_copy(source: nbformat.NotebookNode, executed_path: Path) -> nbformat.NotebookNode | None:
    """The executed notebook when it is a default-parameter run of exactly ``source``'s code, else ``None``."""
    if not executed_path.is_file():
        return None
    executed = nbformat.read(executed_path, as_version=4)
    if executed.metadata.get("papermill", {}).get("parameters"):
        return None  # a smoke run or overridden parameters: its numbers are not the chapter's
    code = [c.source for c in source.cells if c.cell_type == "code"]
    ran = [c.source for c in executed.cells if c.cell_type == "code"
           and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    return executed if code == ran else None


def glued_outputs(executed: nbformat.NotebookNode) -> dict[str, tuple[Any, dict[str, Any]]]:
    """``name -> (value, mimebundle without the glue prefix)`` for every glued output of ``executed``."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = {k.removeprefix(GLUE_PREFIX): v for k, v in output.get("data", {}).items()}
            text = data.get("text/plain", "")
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
            found[name] = (value, data)
    return found


# ---------------------------------------------------------------- citations
def _latex_to_text(text: str) -> str:
    import latexcodec  # noqa: F401  (registers the "ulatex" codec; installed with pybtex)

    text = codecs.decode(text, "ulatex")
    return re.sub(r"[{}]", "", text).replace("--", "–")


@dataclass
class Bibliography:
    """The entries of ``book/references.bib``, cited author-year as the book does."""

    entries: dict[str, Any]

    @classmethod
    def load(cls, path: Path = BIB_PATH) -> Bibliography:
        from pybtex.database import parse_file

        if not Path(path).is_file():
            return cls({})
        return cls(dict(parse_file(str(path)).entries))

    def _entry(self, key: str, where: str) -> Any:
        if key not in self.entries:
            raise ReaderError(f"{where}: {{cite}} names {key!r}, which is not in book/references.bib")
        return self.entries[key]

    def authors(self, key: str, where: str = "") -> str:
        entry = self._entry(key, where)
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not last:
            return _latex_to_text(entry.fields.get("organization", entry.fields.get("title", key)))
        if len(last) == 1:
            return last[0]
        if len(last) == 2:
            return f"{last[0]} and {last[1]}"
        return f"{last[0]} et al."

    def year(self, key: str, where: str = "") -> str:
        return self._entry(key, where).fields.get("year", "n.d.")

    def reference(self, key: str) -> str:
        """One line of the reference list: authors (year). Title. Venue. DOI/URL."""
        entry = self.entries[key]
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_latex_to_text(" ".join(p.first_names + p.middle_names + p.prelast_names + p.last_names))
                 for p in people]
        names = ", ".join(names[:-1]) + " et al." if names and names[-1] == "others" else ", ".join(names)
        fields = entry.fields
        venue = next((fields[k] for k in ("journal", "booktitle", "publisher", "howpublished", "school")
                      if k in fields), "")
        parts = [f"{names} ({fields.get('year', 'n.d.')}).", f"*{_latex_to_text(fields.get('title', key))}*."]
        if venue:
            parts.append(_latex_to_text(venue) + ".")
        if "doi" in fields:
            parts.append(f"[doi:{fields['doi'].replace('<', '&lt;').replace('>', '&gt;')}]"
                         f"(https://doi.org/{quote(fields['doi'], safe='/:;().-_')})")
        elif "url" in fields:
            parts.append(f"<{fields['url']}>")
        return " ".join(parts)


# ---------------------------------------------------------------- markdown
#: The words a reader copy adds around the book's own text, per language (the Chinese edition's).
WORDS: dict[str, dict[str, str]] = {
    "en": {"Exercise": "Exercise", "Figure": "Figure", "Table": "Table", "Note": "Note",
           "References": "References", "answer": "**Your answer to {0}** (replace the stub in the next cell):",
           "solution": "**Solution to {0}** (folded: click the dots below to show it)",
           "solution_summary": "Solution to {0}",
           "run_to_see": "*(This figure is drawn by a code cell of this chapter: run the chapter to see it.)*",
           "note": "*Reader copy for JupyterLab. The numbers in the text, underlined with dots (hover for their "
                   "name), are those of {0}. When you run the chapter, a cell whose result differs from the "
                   "text says so.*"},
    "zh": {"Exercise": "练习", "Figure": "图", "Table": "表", "Note": "注", "References": "参考文献",
           "answer": "**{0} 的答案**（替换下一个单元格中的占位代码）：",
           "solution": "**{0} 的解答**（已折叠：点击下方的省略号展开）",
           "solution_summary": "{0} 的解答",
           "run_to_see": "*（此图由本章的一个代码单元格绘制：运行本章即可看到。）*",
           "note": "*供 JupyterLab 阅读的副本。正文中带点状下划线的数字（悬停可见其名称）来自{0}。"
                   "运行本章时，结果与正文不同的单元格会给出提示。*"},
}


@dataclass
class Context:
    """What rendering one document needs, and what it learns (numbers of figures and exercises)."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    source_note: str = "reference run"
    bib: Bibliography | None = None
    student: bool = False
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    doc_link: Callable[[str], tuple[str, str] | None] | None = None
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (kind, text)
    shown: dict[str, dict[str, str]] = field(default_factory=dict)  # glue name -> {spec: text}
    cited: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    attachments: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    lang: str = "en"

    def word(self, key: str, *args: str) -> str:
        """A word of :data:`WORDS` in this document's language."""
        return WORDS.get(self.lang, WORDS["en"])[key].format(*args)

    def next_number(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]


def _glue_text(ctx: Context, content: str, role: str) -> str:
    key, spec = (content.rsplit(":", 1) + [""])[:2] if role != "glue" else (content, "")
    if key.endswith(":"):  # "path::key" without a spec
        key, spec = content, ""
    key = key.split("::")[-1].strip()
    if key not in ctx.values:
        ctx.missing.append(key)
        return f"[{key}: run the chapter]"
    value = ctx.values[key]
    spec = spec if role != "glue" else "repr"
    text = format_value(value, spec)
    # what the run computes (glue() compares re-runs with it), even where the page shows a translation
    ctx.shown.setdefault(key, {})[spec] = text
    if ctx.lang == "zh":
        translated = _glue_catalog().translate_value(key, value)
        if translated is not None:
            text = format_value(translated, spec)
    return f'<abbr title="{key} ({ctx.source_note})">{text}</abbr>'


@functools.lru_cache(maxsize=1)
def _glue_catalog() -> Any:
    """The Chinese of the glued text values (``i18n/zh_CN/glue.json``), read once."""
    from medkit.book import i18n

    return i18n.load_glue_catalog()


def _cite(ctx: Context, role: str, content: str) -> str:
    keys = [k.strip() for k in content.split(",") if k.strip()]
    if ctx.bib is None:
        return "(" + "; ".join(keys) + ")"
    for key in keys:
        ctx.bib._entry(key, ctx.name)
        if key not in ctx.cited:
            ctx.cited.append(key)
    if role in ("cite:t", "cite:ts"):
        return "; ".join(f"{ctx.bib.authors(k)} ({ctx.bib.year(k)})" for k in keys)
    if role == "cite:author":
        return "; ".join(ctx.bib.authors(k) for k in keys)
    if role == "cite:year":
        return "; ".join(ctx.bib.year(k) for k in keys)
    return "(" + "; ".join(f"{ctx.bib.authors(k)}, {ctx.bib.year(k)}" for k in keys) + ")"


def _split_explicit(content: str) -> tuple[str, str]:
    match = myst.EXPLICIT.match(content)
    if match and match.group("text"):
        return match.group("text").strip(), match.group("target").strip()
    return "", content.strip()


def _role(ctx: Context, match: re.Match) -> str:
    role, content = match.group("role"), match.group("content")
    if role is None:
        return match.group(0)  # inline code
    if role.startswith("glue"):
        return _glue_text(ctx, content, "glue" if role in ("glue", "glue:any") else role)
    if role.startswith("cite"):
        return _cite(ctx, role, content)
    if role in ("ref", "numref", "eq"):
        text, label = _split_explicit(content)
        kind, known = ctx.labels.get(label, ("", ""))
        if role == "numref" and text and "%s" in text:
            number = known.split()[-1] if known else "?"
            return text.replace("%s", number)
        if role == "eq":
            return f"({known or label})"
        return text or known or label.replace("-", " ")
    if role == "doc":
        text, target = _split_explicit(content)
        found = ctx.doc_link(target) if ctx.doc_link else None
        if found is None:
            return text or Path(target).name.replace("_", " ")
        link, title = found
        return f"[{text or title}]({link})"
    if role == "download":
        text, target = _split_explicit(content)
        return f"[{text or target}]({target})"
    if role == "math":
        return f"${content}$"
    if role in ("sub", "sup"):
        return f"<{role}>{content}</{role}>"
    # term, abbr, kbd, code and the rest: their text
    text, _target = _split_explicit(content)
    return text or content


def render_inline(ctx: Context, text: str) -> str:
    """Replace every MyST role in ``text`` (a line or paragraph outside code blocks)."""
    return myst.ROLE.sub(lambda m: _role(ctx, m), text)


@dataclass
class _Block:
    name: str
    arg: str
    options: dict[str, str]
    body: list[str]


def _closing(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (len(stripped) >= len(fence) and set(stripped) == {fence[0]})


def _parse_directive(lines: list[str], start: int, fence: str, head: str) -> tuple[_Block, int]:
    match = myst.DIRECTIVE.match(head)
    assert match is not None
    end = start + 1
    while end < len(lines) and not _closing(lines[end], fence):
        end += 1
    body = lines[start + 1:end]
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":  # YAML options block
        close = next((i for i in range(1, len(body)) if body[i].strip() == "---"), None)
        if close is not None:
            for line in body[1:close]:
                key, _, value = line.partition(":")
                options[key.strip()] = value.strip()
            body = body[close + 1:]
    while body and myst.OPTION.match(body[0].strip()):
        option = myst.OPTION.match(body[0].strip())
        options[option.group("key")] = option.group("value")
        body = body[1:]
    while body and not body[0].strip():
        body = body[1:]
    return _Block(match.group("name"), match.group("arg").strip(), options, body), end + 1


def _quote(title: str, body: str) -> list[str]:
    lines = [f"**{title}**" if title else ""] + ([""] if title and body.strip() else []) + body.splitlines()
    return ["> " + line if line.strip() else ">" for line in lines if title or line]


def _number_label(ctx: Context, block: _Block, kind: str, word: str) -> int:
    number = ctx.next_number(kind)
    label = block.options.get("name") or block.options.get("label")
    if label:
        ctx.labels.setdefault(label, (kind, f"{word} {number}"))
    return number


def _figure_image(ctx: Context, key: str, number: int) -> str | None:
    data = ctx.images.get(key, {})
    for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg")):
        if mime in data:
            name = f"figure-{number}.{ext}"
            payload = data[mime]
            if isinstance(payload, list):
                payload = "".join(payload)
            if mime == "image/svg+xml":
                payload = base64.b64encode(payload.encode()).decode()
            ctx.attachments[name] = {mime: payload}
            return f"![Figure {number}](attachment:{name})"
    return None


def _render_block(ctx: Context, block: _Block) -> list[str]:
    name = block.name
    body = render_markdown(ctx, "\n".join(block.body))
    if name == "admonition":
        return _quote(render_inline(ctx, block.arg) or ctx.word("Note"), body)
    if name in ADMONITIONS:
        title = {"seealso": "See also"}.get(name, name.capitalize())
        text = "\n".join(filter(None, [render_inline(ctx, block.arg), body]))
        return _quote(title, text)
    if name == "exercise":
        from medkit.exercises import exercise_number

        number = ctx.next_number("exercise")
        label = block.options.get("label", "")
        title = render_inline(ctx, block.arg)
        if label and exercise_number(label) != label:  # numbered chapter.exercise, as on the page
            number = exercise_number(label)
            title = "" if title.strip() == number else title
        if label:
            ctx.labels.setdefault(label, ("exercise", f"{ctx.word('Exercise')} {number}"))
        head = (f"### {ctx.word('Exercise')} {number}" + (f": {title}" if title else "")
                + (f" ({label})" if label else ""))
        return [head, "", *body.splitlines()]
    if name in ("solution-start", "solution"):
        kind, known = ctx.labels.get(block.arg, ("", block.arg))
        if ctx.student:
            lines = [ctx.word("answer", known)]
        else:
            lines = [ctx.word("solution", known)]
        if name == "solution" and body.strip():
            lines = [f"<details><summary>{ctx.word('solution_summary', known)}</summary>", "", *body.splitlines(),
                     "", "</details>"]
        return lines
    if name == "solution-end":
        return []
    if name in ("figure", "glue:figure", "glue", "glue:any"):
        number = _number_label(ctx, block, "figure", ctx.word("Figure"))
        caption = body.strip()
        if name == "figure":
            image = f"![{ctx.word('Figure')} {number}]({block.arg})"
        else:
            image = _figure_image(ctx, block.arg, number) or ctx.word("run_to_see")
        return [image, "", f"**{ctx.word('Figure')} {number}.** {caption}".rstrip()]
    if name == "table":
        number = _number_label(ctx, block, "table", ctx.word("Table"))
        title = render_inline(ctx, block.arg)
        return [f"**Table {number}.** {title}".rstrip(), "", *body.splitlines()]
    if name in ("math", "glue:math"):
        label = block.options.get("label")
        if label:
            number = ctx.next_number("equation")
            ctx.labels.setdefault(label, ("equation", str(number)))
        return ["$$", *block.body, "$$"]
    if name in ("code", "code-block", "code-cell", "sourcecode"):
        return [f"```{block.arg}", *block.body, "```"]
    if name == "dropdown":
        return [f"<details><summary>{render_inline(ctx, block.arg) or 'Details'}</summary>", "",
                *body.splitlines(), "", "</details>"]
    if name == "glue:md":
        key = block.arg
        return [str(ctx.values.get(key, f"[{key}: run the chapter]"))]
    if name in ("bibliography", "tableofcontents", "contents", "raw"):
        return []
    # margin, sidebar, epigraph, div, card, tab-set, tab-item...: the content, under its title if any
    title = render_inline(ctx, block.arg)
    return ([f"**{title}**", ""] if title else []) + body.splitlines()


def render_markdown(ctx: Context, text: str) -> str:
    """Plain Markdown for a MyST ``text``: directives rendered, roles replaced, code blocks untouched.

    Examples
    --------
    >>> ctx = Context("demo", values={"auc": 0.87654})
    >>> print(render_markdown(ctx, ":::{admonition} Result\\nAUROC {glue:text}`auc:.3f`.\\n:::"))
    > **Result**
    >
    > AUROC <abbr title="auc (reference run)">0.877</abbr>.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = myst.FENCE.match(line)
        if fence:
            marker, rest = fence.group("fence"), fence.group("rest")
            if myst.DIRECTIVE.match(rest):
                block, i = _parse_directive(lines, i, marker, rest)
                indent = fence.group("indent")
                out.extend(indent + item if item else item for item in _render_block(ctx, block))
                continue
            if marker[0] in "`~":  # an ordinary code block: copied as it is
                end = i + 1
                while end < len(lines) and not _closing(lines[end], marker):
                    end += 1
                out.extend(lines[i:end + 1])
                i = end + 1
                continue
        target = myst.TARGET.match(line.strip())
        if target:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            heading = myst.HEADING.match(nxt)
            if heading:
                ctx.labels.setdefault(target.group("label"), ("section", render_inline(ctx, heading.group("title"))))
            i += 1
            continue
        if line.strip().startswith("$$") and (equation := myst.MATH_LABEL.search(line)):
            # MyST equation label "$$ ... $$ (label)": keep the maths, number it
            label = equation["label"]
            number = ctx.next_number("equation")
            ctx.labels.setdefault(label, ("equation", str(number)))
            out.append(line[:equation.start()] + "$$")
            i += 1
            continue
        out.append(render_inline(ctx, line))
        i += 1
    return "\n".join(out)


# ---------------------------------------------------------------- paths
def relocate_paths(nb: nbformat.NotebookNode, source_dir: Path, out_dir: Path,
                   copy_into: Path | None = None) -> list[tuple[str, str, str]]:
    """Rewrite the relative path parameters of ``nb`` so they hold from ``out_dir``; return what changed.

    A string parameter starting with ``./`` or ``../`` in the cell tagged
    ``parameters`` (and in the ``medkit.smoke`` metadata) is a path relative to
    the chapter's folder ``source_dir``; it becomes the path from ``out_dir`` to
    the same place. With ``copy_into``, a path inside the repository becomes a
    path below ``copy_into`` instead, and an existing data folder it names is
    copied there (so a folder handed out to students carries its data).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     'data_dir = "../data_samples"  # the cohort', metadata={"tags": ["parameters"]})])
    >>> relocate_paths(nb, Path("/r/notebooks"), Path("/r/_build/lab/student"))
    [('data_dir', '../data_samples', '../../../data_samples')]
    >>> nb.cells[0].source
    'data_dir = "../../../data_samples"  # the cohort'
    """
    changes: list[tuple[str, str, str]] = []

    def moved(value: str) -> str | None:
        if not isinstance(value, str) or not value.startswith(("./", "../")):
            return None
        target = Path(os.path.normpath(Path(source_dir) / value))
        if copy_into is not None:
            try:
                inside = target.relative_to(Path(os.path.normpath(Path(source_dir).parent)))
            except ValueError:
                inside = None
            if inside is not None:
                destination = Path(copy_into) / inside
                if target.is_dir() and inside.parts[0] != "_build" and not destination.exists():
                    shutil.copytree(target, destination)
                target = destination
        new = os.path.relpath(target, Path(os.path.normpath(out_dir)))
        return new if new != value else None

    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        lines = cell.source.split("\n")
        for node in ast.parse(cell.source).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
                node.target if isinstance(node, ast.AnnAssign) else None)
            value = getattr(node, "value", None)
            if not (isinstance(target, ast.Name) and isinstance(value, ast.Constant)
                    and node.lineno == node.end_lineno):
                continue
            new = moved(value.value)
            if new is None:
                continue
            line = lines[value.lineno - 1]
            lines[value.lineno - 1] = line[:value.col_offset] + json.dumps(new) + line[value.end_col_offset:]
            changes.append((target.id, value.value, new))
        cell.source = "\n".join(lines)
    smoke = nb.metadata.get("medkit", {}).get("smoke", {})
    for key, value in list(smoke.items()):
        new = moved(value)
        if new is not None:
            smoke[key] = new
    return changes


# ---------------------------------------------------------------- notebooks
def _seed_note(nb: nbformat.NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            match = re.search(r"^seed\s*=\s*(\S+)", cell.source, re.MULTILINE)
            if match:
                return f", seed {match.group(1)}"
    return ""


def _origin_words(origin: str, seed: str, lang: str) -> str:
    """Where the numbers come from, for the note at the top of a reader copy, in the copy's language.

    Examples
    --------
    >>> _origin_words("the reference run (reproducibility/expected.json)", ", seed 0", "zh")
    '参考运行（reproducibility/expected.json），seed 0'
    """
    if lang != "zh":
        return f"{origin}{seed}"
    where = ("参考运行（reproducibility/expected.json）" if "expected.json" in origin
             else "本机对本章的运行（_build/executed，默认参数）" if "_build/executed" in origin else origin)
    return where + seed.replace(", ", "，")


def _fold(cell: nbformat.NotebookNode, source: bool = False, outputs: bool = False) -> None:
    jupyter = dict(cell.metadata.get("jupyter", {}))
    if source:
        jupyter["source_hidden"] = True
    if outputs:
        jupyter["outputs_hidden"] = True
    cell.metadata["jupyter"] = jupyter


def reader_notebook(nb: nbformat.NotebookNode, stem: str, *, values: dict[str, Any], origin: str,
                    bib: Bibliography | None = None, student: bool = False,
                    images: dict[str, dict[str, Any]] | None = None,
                    doc_link: Callable[[str], tuple[str, str] | None] | None = None,
                    strict: bool = True) -> nbformat.NotebookNode:
    """The reader copy of chapter ``nb`` (a new notebook; the input is not modified).

    Parameters
    ----------
    nb
        The chapter (instructor notebook, a student version, or an executed copy).
    stem
        Its file name without ``.ipynb`` (for messages and the metadata).
    values
        Glued values by name, e.g. from :func:`reference_values`.
    origin
        Where the values come from, in words ("the reference run ...").
    bib
        The bibliography for ``{cite}``; ``None`` writes the keys.
    student
        Word the solution cells as the student's answer cells, not folded solutions.
    images
        Glued figures by name (mimebundles), embedded for ``{glue:figure}``.
    doc_link
        Maps a ``{doc}`` target to ``(link, title)``.
    strict
        Raise when the markdown quotes a glue name ``values`` lacks.

    Raises
    ------
    ReaderError
        A glue name or citation key is unknown (with ``strict``).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
    ...     "# T\\n\\nLoss {glue:text}`loss:.2f`.")])
    >>> copy_ = reader_notebook(nb, "00_t", values={"loss": 2.302585}, origin="a test")
    >>> "2.30</abbr>" in copy_.cells[0].source, copy_.metadata["medkit"]["reader"]["shown"]
    (True, {'loss': {'.2f': '2.30'}})
    """
    out = copy.deepcopy(nb)
    seed = _seed_note(out)
    short = "reference run" if "expected.json" in origin else "this machine's run"
    lang = "zh" if str(out.metadata.get("language", "")).startswith("zh") else "en"  # set by medkit.book.i18n
    ctx = Context(stem, values=values, source_note=f"{short}{seed}", bib=bib, student=student,
                  images=images or {}, doc_link=doc_link, lang=lang)
    markdown = [c for c in out.cells if c.cell_type == "markdown"]
    for cell in markdown:  # first pass: learn the numbers of exercises, figures and sections
        render_markdown(ctx, cell.source)
    labels = dict(ctx.labels)
    ctx = Context(stem, values=values, source_note=ctx.source_note, bib=bib, student=student,
                  images=images or {}, doc_link=doc_link, labels=labels, lang=lang)
    cells = []
    inside_solution = False
    for cell in out.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown":
            starts = myst.opens(cell.source, "solution-start")
            ends = myst.opens(cell.source, "solution-end")
            ctx.attachments = {}
            text = render_markdown(ctx, cell.source).strip("\n")
            inside_solution = (inside_solution or starts) and not ends
            if not text.strip():
                continue  # e.g. a cell that only closed a solution
            cell.source = text
            if ctx.attachments:
                cell["attachments"] = {**cell.get("attachments", {}), **ctx.attachments}
        elif cell.cell_type == "code":
            if inside_solution and not student:
                _fold(cell, source=True)
            if "remove-cell" in tags and "hidden-test" not in tags:
                _fold(cell, source=True, outputs=True)
            elif "remove-input" in tags or "hide-input" in tags:
                _fold(cell, source=True)
            if "remove-output" in tags or "hide-output" in tags:
                _fold(cell, outputs=True)
        cells.append(cell)
    if strict and ctx.missing:
        raise ReaderError(f"{stem}: the text quotes glued values with no value from {origin}: "
                          + ", ".join(sorted(set(ctx.missing))))
    if ctx.cited and bib is not None:
        refs = "\n".join(f"- {bib.reference(key)}" for key in sorted(ctx.cited, key=lambda k: bib.authors(k)))
        cells.append(nbformat.v4.new_markdown_cell(f"## {ctx.word('References')}\n\n" + refs))
    first = next((c for c in cells if c.cell_type == "markdown"), None)
    if first is not None and ctx.shown:
        first.source += "\n\n> " + ctx.word("note", _origin_words(origin, seed, ctx.lang))
    out.cells = cells
    meta = dict(out.metadata.get("medkit", {}))
    meta["reader"] = {"origin": f"{short}{seed}", "shown": ctx.shown}
    out.metadata["medkit"] = meta
    return out


# ---------------------------------------------------------------- the lab folder
def doc_linker(source_dir: Path, out_dir: Path, book_out: Path) -> Callable[[str], tuple[str, str] | None]:
    def link(target: str) -> tuple[str, str] | None:
        target = target.removesuffix(".md").removesuffix(".ipynb")
        for suffix in (".md", ".ipynb"):
            path = Path(os.path.normpath(source_dir / (target + suffix)))
            if path.is_file():
                break
        else:
            return None
        title = path.stem.replace("_", " ")
        if path.suffix == ".md":
            heading = next((m.group("title") for m in map(myst.HEADING.match, path.read_text("utf-8").splitlines())
                            if m and len(m.group("hashes")) == 1), None)
            title = heading or title
        try:
            inside = path.relative_to(BOOK_DIR)
            destination = book_out / inside
        except ValueError:
            destination = path
        return os.path.relpath(destination, out_dir), title
    return link


def _fingerprint(path: Path, text: str) -> str:
    """The student's work in a file: a notebook's cell sources (not outputs, metadata or view state), else the text."""
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            cells = None
        if isinstance(cells, list):
            text = json.dumps([(c.get("cell_type"), "".join(c.get("source", ""))) for c in cells])
    return hashlib.sha256(text.encode()).hexdigest()


def _write_if_untouched(path: Path, text: str, manifest: dict[str, str], kept: list[Path]) -> None:
    """Write ``text`` unless the student changed the copy written last time (running cells is not a change)."""
    key = str(path)
    if path.exists():
        current = _fingerprint(path, path.read_text(encoding="utf-8", errors="replace"))
        if current not in (manifest.get(key), _fingerprint(path, text)):
            kept.append(path)  # the student edited it: never overwrite their work
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    manifest[key] = _fingerprint(path, text)


@dataclass
class LabResult:
    written: list[Path]
    kept: list[Path]
    origins: dict[str, str]


def chapter_values(nb: nbformat.NotebookNode, stem: str, expected_path: Path,
                   executed_dir: Path | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str,
                                                       nbformat.NotebookNode | None]:
    """``(values, figures, origin, executed)`` for one chapter: a matching executed copy first, else the reference."""
    executed = executed_copy(nb, executed_dir / f"{stem}.ipynb") if executed_dir else None
    if executed is not None:
        found = glued_outputs(executed)
        values = {k: v for k, (v, _) in found.items()}
        images = {k: d for k, (_, d) in found.items() if any(m.startswith("image/") for m in d)}
        return values, images, "this machine's run of the chapter (_build/executed, default parameters)", executed
    return reference_values(stem, expected_path), {}, "the reference run (reproducibility/expected.json)", None


def build_lab(out_root: Path = LAB_DIR, notebooks: list[Path] | None = None, *,
              expected_path: Path = EXPECTED_PATH, executed_dir: Path | None = EXECUTED_DIR,
              students: bool = True, book_dir: Path | None = BOOK_DIR, lang: str = "en") -> LabResult:
    """Write the reader copies: ``notebooks/`` (instructor), ``student/`` and ``book/`` under ``out_root``.

    ``lang="zh"`` writes the Chinese edition: the prose of each chapter and page from the
    translation catalogs (:mod:`medkit.book.i18n`; a stale or missing cell shows its
    English under the 待翻译 marker), the same code and the same numbers.

    Raises
    ------
    ReaderError
        A chapter quotes a value or cites a work that cannot be found.
    """
    from medkit.book import i18n
    from medkit.classroom.student import student_version

    if lang not in ("en", "zh"):
        raise ReaderError(f"unknown language {lang!r}: the reader copies are written in 'en' or 'zh'")
    notebooks = notebooks if notebooks is not None else sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    bib = Bibliography.load()
    manifest_path = out_root / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    written: list[Path] = []
    kept: list[Path] = []
    origins: dict[str, str] = {}
    book_out = out_root / "book"
    for path in notebooks:
        source = nbformat.read(path, as_version=4)
        stem = path.stem
        values, images, origin, executed = chapter_values(source, stem, expected_path, executed_dir)
        origins[stem] = origin
        if lang == "zh":
            catalog = i18n.load_chapter(stem)
            source = i18n.translate_notebook(source, catalog)[0]
            executed = None if executed is None else i18n.translate_notebook(executed, catalog)[0]
        variants = [("notebooks", executed if executed is not None else source, False)]
        if students:
            variants.append(("student", student_version(source, stem, str(path)), True))
        for folder, nb, is_student in variants:
            out_dir = out_root / folder
            nb = copy.deepcopy(nb)
            relocate_paths(nb, path.parent, out_dir)
            copy_ = reader_notebook(nb, stem, values=values, origin=origin, bib=bib, student=is_student,
                                    images=images, doc_link=doc_linker(path.parent, out_dir, book_out))
            if lang == "zh":  # the medkit-zh kernel: the self-checks speak Chinese with no code on the page
                copy_.metadata["kernelspec"] = kernelspec("zh")
            target = out_dir / path.name
            _write_if_untouched(target, nbformat.writes(copy_) + "\n", manifest, kept)
            written.append(target)
    if book_dir is not None and book_dir.is_dir():
        for page in sorted(book_dir.glob("*.md")):
            ctx = Context(page.stem, bib=bib, doc_link=doc_linker(page.parent, book_out, book_out))
            english = page.read_text(encoding="utf-8")
            text = render_markdown(ctx, english if lang == "en" else i18n.page_state(f"book/{page.stem}").text)
            if ctx.cited:
                text += "\n\n## References\n\n" + "\n".join(f"- {bib.reference(k)}" for k in ctx.cited)
            target = book_out / page.name
            _write_if_untouched(target, text, manifest, kept)
            written.append(target)
    readme = out_root / "README.md"
    _write_if_untouched(readme, _README, manifest, kept)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return LabResult(written, kept, origins)


_README = """# The chapters, ready to read in JupyterLab

- `notebooks/`: the chapters with their solutions (folded).
- `student/`: the student versions: solutions replaced by stubs for you to fill in.
- `book/`: the book's other pages.

These are *reader copies*, written by `make lab` (`python -m medkit lab`) from `notebooks/` in the
repository: the book's markup is turned into plain Markdown and the numbers the text talks about
are filled in (dotted underline). Run the cells to recompute everything; a cell whose result differs
from the number in the text prints a note. `make lab` never overwrites a copy you have changed
(delete it to get a fresh one), but `make clean` deletes this whole folder: keep your work elsewhere.
"""


# ---------------------------------------------------------------- the kernel and JupyterLab
#: The kernels ``python -m medkit lab --kernel-only`` (``make setup``) installs, by name: their display
#: name and the environment variables they add to the ``medkit`` kernel's. The ``medkit-zh`` kernel is
#: the same Python with ``MEDKIT_LANG=zh``: self-checks and figures in Chinese (:mod:`medkit.language`).
KERNELS = {
    KERNEL_NAME: ("Python (medkit)", {}),
    KERNEL_NAME_ZH: ("Python (medkit, 中文)", {"MEDKIT_LANG": "zh"}),
}


def kernelspec(lang: str = "en") -> dict[str, str]:
    """The ``kernelspec`` metadata of a notebook copy in ``lang``: ``medkit``, or ``medkit-zh`` for Chinese.

    Examples
    --------
    >>> kernelspec("zh")
    {'name': 'medkit-zh', 'display_name': 'Python (medkit, 中文)', 'language': 'python'}
    >>> kernelspec("en")["name"]
    'medkit'
    """
    name = KERNEL_NAME_ZH if lang == "zh" else KERNEL_NAME
    return {"name": name, "display_name": KERNELS[name][0], "language": "python"}


def _write_spec(kernel_json: Path, spec: dict[str, Any]) -> None:
    """Write a kernelspec unless it already says exactly this (idempotent: no needless rewrite)."""
    current = json.loads(kernel_json.read_text()) if kernel_json.is_file() else None
    if current != spec:
        kernel_json.parent.mkdir(parents=True, exist_ok=True)
        kernel_json.write_text(json.dumps(spec, indent=1) + "\n")


def kernel_json_zh(kernel_json: Path) -> Path:
    """Where :func:`ensure_kernel` writes the ``medkit-zh`` kernelspec: beside the ``medkit`` one.

    Examples
    --------
    >>> kernel_json_zh(Path("/venv/share/jupyter/kernels/medkit/kernel.json")).as_posix()
    '/venv/share/jupyter/kernels/medkit-zh/kernel.json'
    """
    return kernel_json.parent.parent / KERNEL_NAME_ZH / "kernel.json"


def ensure_kernel(name: str = KERNEL_NAME, display_name: str = KERNELS[KERNEL_NAME][0]) -> Path:
    """Install or update the ``medkit`` kernelspec so TensorFlow's start-up lines stay out of cell outputs.

    For the ``medkit`` kernel it also writes its Chinese twin ``medkit-zh``
    (:data:`medkit.KERNEL_NAME_ZH`, "Python (medkit, 中文)") beside it: the same
    ``argv`` and ``env`` plus ``MEDKIT_LANG=zh``. The Chinese reader copies and
    student versions name that kernel, so their self-checks print Chinese with
    no code on the page; grading still runs every submission on ``medkit``.

    Returns the path of the ``medkit`` ``kernel.json``. Idempotent: a kernelspec
    that is already right is not rewritten.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec_dir = Path(manager.get_kernel_spec(name).resource_dir)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        spec_dir = Path(install(kernel_name=name, display_name=display_name, prefix=sys.prefix))
    kernel_json = spec_dir / "kernel.json"
    spec = json.loads(kernel_json.read_text())
    argv = list(spec["argv"])
    if KERNEL_FLAG not in argv:
        where = argv.index("-f") if "-f" in argv else len(argv)
        argv.insert(where, KERNEL_FLAG)
    env = {**spec.get("env", {}), **KERNEL_ENV}
    if argv != spec["argv"] or env != spec.get("env"):
        spec["argv"], spec["env"] = argv, env
        kernel_json.write_text(json.dumps(spec, indent=1) + "\n")
    if name == KERNEL_NAME:
        zh_display, zh_env = KERNELS[KERNEL_NAME_ZH]
        zh_json = kernel_json_zh(kernel_json)
        _write_spec(zh_json, {**spec, "display_name": zh_display, "env": {**env, **zh_env}})
        for logo in spec_dir.glob("logo-*"):  # the launcher's icons
            if not (zh_json.parent / logo.name).is_file():
                shutil.copyfile(logo, zh_json.parent / logo.name)
    return kernel_json


def jupyter_command(root: Path, extra: list[str], uid: int | None = None) -> list[str]:
    """The ``jupyter lab`` command line for ``root`` (``--allow-root`` when run as root).

    Examples
    --------
    >>> jupyter_command(Path("/r/_build/lab"), ["--port", "8899"], uid=0)[-3:]
    ['--allow-root', '--port', '8899']
    """
    uid = os.getuid() if uid is None else uid
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if uid == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    return command + list(extra)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=LAB_DIR, help="where the reader copies go (default: _build/lab)")
    parser.add_argument("--build-only", action="store_true", help="write the reader copies, do not start JupyterLab")
    parser.add_argument("--kernel-only", action="store_true",
                        help="only install/update the medkit kernelspec (TensorFlow's start-up lines off the cells) "
                             f"and its Chinese twin {KERNEL_NAME_ZH} (MEDKIT_LANG=zh: self-checks in Chinese)")
    parser.add_argument("--reference", action="store_true",
                        help="take the numbers from reproducibility/expected.json even when _build/executed has a run")
    parser.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="zh: the Chinese edition (prose from i18n/zh_CN, same code and numbers), in OUT/zh")
    parser.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                        help="arguments after -- go to jupyter lab (e.g. -- --port 8899 --no-browser)")


def main(args: argparse.Namespace) -> int:
    kernel_json = ensure_kernel()
    if args.kernel_only:
        print(f"kernelspec: {kernel_json}")
        print(f"kernelspec: {kernel_json_zh(kernel_json)} (MEDKIT_LANG=zh)")
        return 0
    try:
        out = args.out / "zh" if args.lang == "zh" else args.out
        result = build_lab(out, executed_dir=None if args.reference else EXECUTED_DIR, lang=args.lang)
    except ReaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for stem, origin in result.origins.items():
        print(f"{stem}: numbers from {origin}")
    for path in result.kept:
        print(f"kept your edited {path} (delete it to get a fresh copy)")
    print(f"reader copies: {out}/notebooks (instructor), {out}/student, {out}/book")
    if args.build_only:
        return 0
    extra = [a for a in args.jupyter_args if a != "--"]
    command = jupyter_command(out.resolve(), extra)
    print(" ".join(command), flush=True)
    os.execv(command[0], command)
    return 0  # not reached
