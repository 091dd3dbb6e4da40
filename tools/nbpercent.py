"""Convert between a percent-format script and a notebook without outputs.

Notebooks are the source of truth, but JSON is hard to review and edit in a
terminal. ``python tools/nbpercent.py to-py notebooks/01_x.ipynb`` prints the
notebook as a ``# %%`` script; ``python tools/nbpercent.py to-nb script.py
notebooks/01_x.ipynb`` writes it back (cell tags and notebook metadata kept).

Cell markers::

    # %% [markdown]
    # %% tags=["parameters"]
    # %% tags=["remove-cell"] medkit={"exercise": "ex-ce-1", "points": 1}

A first line ``# notebook-metadata: {...}`` carries the notebook's metadata.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

KERNELSPEC = {"name": "medkit", "display_name": "Python (medkit)", "language": "python"}
MARKER = re.compile(r"^# %%(?: \[(?P<kind>markdown|raw)\])?(?P<meta>.*)$")
META_ITEM = re.compile(r'\s*(\w+)=(\[.*?\]|\{.*?\})(?=\s+\w+=|\s*$)')


def parse_meta(text: str) -> dict:
    meta: dict = {}
    for key, value in META_ITEM.findall(text):
        meta[key] = json.loads(value)
    return meta


def script_to_notebook(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    lines = source.splitlines()
    if lines and lines[0].startswith("# notebook-metadata:"):
        nb.metadata.update(json.loads(lines.pop(0).split(":", 1)[1]))
    cells: list[tuple[str, dict, list[str]]] = []
    for line in lines:
        match = MARKER.match(line)
        if match:
            cells.append((match.group("kind") or "code", parse_meta(match.group("meta")), []))
        elif cells:
            cells[-1][2].append(line)
    for kind, meta, body in cells:
        while body and not body[-1].strip():
            body.pop()
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body)
            cell = nbformat.v4.new_markdown_cell(text)
        elif kind == "raw":
            cell = nbformat.v4.new_raw_cell("\n".join(body))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(body))
        cell.metadata.update(meta)
        cell["id"] = f"cell-{len(nb.cells):03d}"  # stable ids keep diffs of regenerated notebooks small
        nb.cells.append(cell)
    return nb


def notebook_to_script(nb: nbformat.NotebookNode) -> str:
    out = []
    extra = {k: v for k, v in nb.metadata.items() if k not in ("kernelspec", "language_info")}
    if extra:
        out.append("# notebook-metadata: " + json.dumps(extra))
    for cell in nb.cells:
        meta = " ".join(f"{k}={json.dumps(v)}" for k, v in cell.metadata.items())
        kind = "" if cell.cell_type == "code" else f" [{cell.cell_type}]"
        out.append(f"# %%{kind}{(' ' + meta) if meta else ''}")
        if cell.cell_type == "markdown":
            out.extend(("# " + line) if line else "#" for line in cell.source.splitlines())
        else:
            out.extend(cell.source.splitlines())
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "to-py":
        sys.stdout.write(notebook_to_script(nbformat.read(argv[1], as_version=4)))
    elif len(argv) == 3 and argv[0] == "to-nb":
        nb = script_to_notebook(Path(argv[1]).read_text())
        nbformat.write(nb, argv[2])
        print(f"wrote {argv[2]} ({len(nb.cells)} cells)")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
