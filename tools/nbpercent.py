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

Cell ids are kept: when the notebook named to ``to-nb`` exists, each cell of the script takes the id of
the notebook cell it came from (see :func:`keep_ids`), so inserting, editing or deleting a cell does not
re-key the others (the Chinese catalogs in ``i18n/zh_CN/notebooks/`` are keyed by cell id). New cells
get fresh ids that no cell of the old notebook had, and unchanged cells are written as they were
(:func:`keep_line_splits`): ``to-py`` then ``to-nb`` gives the same file, byte for byte. This tool does
not import medkit.
"""
from __future__ import annotations

import difflib
import hashlib
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


def script_to_notebook(source: str, previous: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """The notebook of a percent script; with ``previous`` (the notebook it was made from), its cell ids.

    Without ``previous`` the cells are numbered ``cell-000``, ``cell-001``, ...; with it, see
    :func:`keep_ids`.
    """
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
    if previous is not None:
        keep_ids(nb.cells, previous.cells)
    return nb


def _key(cell: dict) -> tuple[str, str]:
    return cell["cell_type"], cell["source"]


def _pair(old: list, new: list) -> list[tuple[int, int]]:
    """Which of ``old`` and ``new`` (a changed stretch) are the same cell: ``(old index, new index)``.

    Stretches of one length pair by position. Otherwise the pairs are the order-keeping matching with
    the most similar text (a cell inserted next to an edited one does not take the edited one's id).
    """
    if len(old) == len(new):
        return list(zip(range(len(old)), range(len(new)), strict=True))

    def similar(a: dict, b: dict) -> float:
        same = a["cell_type"] == b["cell_type"]
        return difflib.SequenceMatcher(None, a["source"], b["source"], autojunk=False).ratio() if same else 0.0

    n, m = len(old), len(new)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: old[i:] against new[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], similar(old[i], new[j]) + best[i + 1][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if best[i][j] == best[i + 1][j]:
            i += 1
        elif best[i][j] == best[i][j + 1]:
            j += 1
        else:
            pairs.append((i, j))
            i, j = i + 1, j + 1
    return pairs


def keep_ids(cells: list, old: list) -> None:
    """Give ``cells`` the ids of the ``old`` cells they correspond to, and fresh ids to new cells.

    The two cell sequences are aligned with :class:`difflib.SequenceMatcher` on (cell type, source):
    cells with identical source keep their id; within a stretch of changed cells, the cells are paired
    by position (an edited cell keeps its id) or, where cells were added or removed there too, by the
    most similar text (:func:`_pair`); the cells left over are new (fresh id) or deleted (their id is not
    used again). A fresh id is ``cell-`` and a hash of the cell, unique in the notebook and
    unused by the old cells; no two cells share an id.
    """
    ids: list[str | None] = [None] * len(cells)
    matcher = difflib.SequenceMatcher(None, [_key(c) for c in old], [_key(c) for c in cells], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            for i, j in _pair(old[i1:i2], cells[j1:j2]):
                ids[j1 + j] = old[i1 + i].get("id")
    taken = {c.get("id") for c in old}
    used: set[str] = set()
    for j, cell in enumerate(cells):
        cid = ids[j]
        if not cid or cid in used:  # new cell, or an old notebook with duplicate ids
            digest = hashlib.sha1("\0".join(_key(cell)).encode()).hexdigest()
            n, cid = 0, f"cell-{digest[:8]}"
            while cid in taken or cid in used:
                n += 1
                cid = f"cell-{digest[:8]}-{n}"
        cell["id"] = cid
        used.add(cid)


def keep_line_splits(nb: nbformat.NotebookNode, raw: dict) -> None:
    """Unchanged cells keep the old file's split of their source into JSON strings.

    nbformat writes a source as one string per line; a notebook written otherwise (several lines in
    one string) would change in every such cell on a round trip. With this, ``to-py`` then ``to-nb``
    writes the file back byte for byte, and an edit changes only the cells it touched.
    """
    old = {cell.get("id"): cell.get("source") for cell in raw.get("cells", [])}
    for cell in nb.cells:
        source = old.get(cell.get("id"))
        if isinstance(source, list) and "".join(source) == cell.source:
            cell.source = list(source)


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
        previous, raw = None, None
        if Path(argv[2]).exists():
            try:
                text = Path(argv[2]).read_text(encoding="utf-8")
                raw, previous = json.loads(text), nbformat.reads(text, as_version=4)
            except (OSError, ValueError) as err:  # not JSON, not a notebook, not UTF-8
                sys.exit(f"{argv[2]}: cannot read the notebook whose cell ids to keep: {err}")
        nb = script_to_notebook(Path(argv[1]).read_text(), previous)
        if raw is not None:
            keep_line_splits(nb, raw)
        nbformat.write(nb, argv[2])
        print(f"wrote {argv[2]} ({len(nb.cells)} cells)")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
