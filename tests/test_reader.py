"""Reader copies for JupyterLab (``medkit lab``): no raw MyST, the reference numbers, runnable, data found."""
from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from medkit.book import myst, reader
from medkit.book.runner import discover_notebooks

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = discover_notebooks()
EXPECTED = json.loads((REPO / "reproducibility" / "expected.json").read_text())
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
RAW_MYST = re.compile(r"\{(glue|cite|doc|ref|numref|eq|term)[:\w-]*\}`|^\s*(:{3,}|`{3,})\{", re.MULTILINE)
myst_variables = pytest.importorskip("myst_nb.core.variables")


def prose(markdown: str) -> str:
    """The markdown without code blocks and inline code (where MyST examples may legitimately appear)."""
    blocks = re.sub(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    # inline code spans go (reader's own tokeniser: a span glued to "{role}" is a role and stays)
    return myst.ROLE.sub(lambda m: m.group(0) if m.group("role") else "", blocks)


# ---------------------------------------------------------------- glue formatting, against myst-nb
@pytest.mark.parametrize("value, spec", [
    (0.87654, ".3f"), (2.302585092994046, ".4f"), (45, ""), (4, "d"), ("concat", ""), ("concat", "s"),
    ("inf", ".4f"), (float("inf"), ""), ([64, 64, 1], ""), (-0.5, ".2f"), (0.1234, ".1%"), (1234567.0, ".3g"),
    (True, ""), (None, ""),
])
def test_format_value_is_myst_nbs_rule(value, spec):
    assert reader.format_value(value, spec) == myst_variables.format_plain_text(repr(value), spec)


# ---------------------------------------------------------------- markdown rendering
def render(text, **kw):
    ctx = reader.Context("t", bib=reader.Bibliography.load(), **kw)
    return reader.render_markdown(ctx, text), ctx


def test_directives_and_roles_become_plain_markdown():
    text, ctx = render(
        ":::{admonition} Erratum — section 4.1\n:class: warning\nThe article prints {glue:text}`p`.\n:::\n\n"
        "Use `{glue:text}` like this: ``{glue:text}`x` `` (inline code is left alone).\n\n"
        "```python\nglue('x', 1)  # {glue:text}`x` in a code block stays\n```\n\n"
        ":::{note}\nA note.\n:::\n\nHAIM {cite}`soenksen2022haim`; {cite:t}`youden1950index`.",
        values={"p": 0.105})
    assert text.splitlines()[:3] == ["> **Erratum — section 4.1**", ">",
                                     '> The article prints <abbr title="p (reference run)">0.105</abbr>.']
    assert "``{glue:text}`x` ``" in text and "# {glue:text}`x` in a code block stays" in text
    assert "> **Note**\n>\n> A note." in text
    assert "HAIM (Soenksen et al., 2022); Youden (1950)." in text
    assert ctx.cited == ["soenksen2022haim", "youden1950index"]
    assert not RAW_MYST.search(prose(text))


def test_exercises_are_numbered_and_solutions_fold():
    nb = new_notebook(cells=[
        new_markdown_cell(":::{exercise}\n:label: t-ex1\nCompute it.\n:::"),
        new_markdown_cell(":::{solution-start} t-ex1\n:class: dropdown\n:::"),
        new_code_cell("answer = 1  # SOLUTION", metadata={"tags": ["solution"], "medkit": {"exercise": "t-ex1"}}),
        new_markdown_cell(":::{solution-end}\n:::"),
        new_code_cell("check(answer)", metadata={"tags": ["self-check"], "medkit": {"exercise": "t-ex1"}}),
        new_markdown_cell(":::{exercise} Harder\n:label: t-ex2\nAnd this, after {numref}`fig-t`.\n:::"),
        new_markdown_cell(":::{glue:figure} t_fig\n:name: fig-t\nThe curve.\n:::"),
        new_code_cell("glue_all({'a': 1})", metadata={"tags": ["remove-input"]}),
    ])
    out = reader.reader_notebook(nb, "00_t", values={}, origin="the reference run (x)")
    sources = [c.source for c in out.cells]
    assert sources[0].startswith("### Exercise 1 (t-ex1)\n\nCompute it.")
    assert sources[1].startswith("**Solution to Exercise 1**")
    assert out.cells[2].metadata["jupyter"] == {"source_hidden": True}
    assert "solution-end" not in "".join(sources) and len(out.cells) == len(nb.cells) - 1
    assert "jupyter" not in out.cells[3].metadata  # the self-check stays open
    assert sources[4].startswith("### Exercise 2: Harder (t-ex2)\n\nAnd this, after Figure 1.")
    assert "**Figure 1.** The curve." in sources[5]
    assert out.cells[6].metadata["jupyter"] == {"source_hidden": True}  # remove-input -> folded input
    assert [c.id for c in out.cells] == [c.id for i, c in enumerate(nb.cells) if i != 3]
    student = reader.reader_notebook(nb, "00_t", values={}, origin="x", student=True)
    assert student.cells[1].source.startswith("**Your answer to Exercise 1**")
    assert "jupyter" not in student.cells[2].metadata


def test_unknown_glue_name_and_citation_are_errors():
    nb = new_notebook(cells=[new_markdown_cell("AUROC {glue:text}`nope:.3f`")])
    with pytest.raises(reader.ReaderError, match="00_t: .*nope"):
        reader.reader_notebook(nb, "00_t", values={"auc": 0.9}, origin="the reference run")
    with pytest.raises(reader.ReaderError, match=r"t: .*'nobody2020'.*book/references\.bib"):
        render("{cite}`nobody2020`")


# ---------------------------------------------------------------- every chapter
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    result = reader.build_lab(out, CHAPTERS, executed_dir=None)
    return out, result


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
@pytest.mark.parametrize("folder", ["notebooks", "student"])
def test_reader_copy_of_every_chapter(lab, chapter, folder):
    out, _ = lab
    source = nbformat.read(chapter, as_version=4)
    copy_ = nbformat.read(out / folder / chapter.name, as_version=4)
    nbformat.validate(copy_)
    markdown = "\n".join(c.source for c in copy_.cells if c.cell_type == "markdown")
    assert not RAW_MYST.search(prose(markdown)), RAW_MYST.search(prose(markdown))
    # every glued value the text quotes is there, formatted as the book formats the reference value
    expected = {k: v["value"] for k, v in EXPECTED["full"][chapter.stem]["values"].items()}
    roles = [m.group(1) for c in source.cells if c.cell_type == "markdown" for m in GLUE_ROLE.finditer(c.source)]
    assert markdown.count("<abbr title=") == len(roles)
    for role in roles:
        name, _, spec = role.partition(":")
        shown = myst_variables.format_plain_text(repr(expected[name]), spec or "s")
        assert f'<abbr title="{name} (reference run' in markdown and f">{shown}</abbr>" in markdown, role
    # code cells, ids, tags and the parameters cell are kept (papermill can run the copy)
    if folder == "notebooks":
        kept = [(c.id, c.source, c.metadata.get("tags")) for c in source.cells if c.cell_type == "code"]
        got = [(c.id, c.source, c.metadata.get("tags")) for c in copy_.cells if c.cell_type == "code"]
        params = [i for i, c in enumerate(kept) if "parameters" in (c[2] or [])]
        assert [k for i, k in enumerate(kept) if i not in params] == [g for i, g in enumerate(got) if i not in params]
        assert params == [0]
    # path parameters lead from the copy's folder to the repository's data
    first = next(c for c in copy_.cells if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(first.source).body:
        value = getattr(node, "value", None)
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and "data_samples" in value.value:
            assert (out / folder / value.value / "images.csv").is_file(), value.value


def test_links_and_book_pages(lab):
    out, result = lab
    assert not result.kept
    for page in (out / "book").glob("*.md"):
        assert not RAW_MYST.search(prose(page.read_text())), page.name
    ch1 = (out / "notebooks" / "01_cross_entropy.ipynb").read_text()
    assert "[Errata of the source article](../book/errata.md)" in ch1 and (out / "book" / "errata.md").is_file()


def test_an_edited_copy_is_kept(tmp_path):
    chapter = CHAPTERS[0]
    reader.build_lab(tmp_path, [chapter], executed_dir=None, book_dir=None)
    target = tmp_path / "notebooks" / chapter.name
    # opened and run in JupyterLab (kernel metadata, outputs): not an edit, rewritten quietly
    nb = nbformat.read(target, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11"}
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="ran")]
    nbformat.write(nb, target)
    assert reader.build_lab(tmp_path, [chapter], executed_dir=None, book_dir=None).kept == []
    assert nbformat.read(target, as_version=4).cells[1].outputs == []  # a fresh copy was written
    target.write_text(target.read_text().replace("Cross-entropy loss", "Cross-entropy loss (my notes)"))
    result = reader.build_lab(tmp_path, [chapter], executed_dir=None, book_dir=None)
    assert result.kept == [target] and "(my notes)" in target.read_text()


def test_relocate_paths_copies_data_when_asked(tmp_path):
    nb = new_notebook(cells=[new_code_cell('data_dir = "../data_samples"  # cohort\nseed = 0\nname = "../x"',
                                           metadata={"tags": ["parameters"]})])
    moved = reader.relocate_paths(nb, REPO / "notebooks", tmp_path / "out", copy_into=tmp_path / "out")
    assert moved == [("data_dir", "../data_samples", "data_samples"), ("name", "../x", "x")]
    assert (tmp_path / "out" / "data_samples" / "images.csv").is_file()
    assert nb.cells[0].source.splitlines()[0] == 'data_dir = "data_samples"  # cohort'


# ---------------------------------------------------------------- JupyterLab and its kernel
def test_jupyter_lab_as_root_and_as_a_user():
    assert "--allow-root" in reader.jupyter_command(Path("/r"), [], uid=0)
    assert "--allow-root" not in reader.jupyter_command(Path("/r"), [], uid=1000)
    assert reader.jupyter_command(Path("/r"), ["--allow-root"], uid=0).count("--allow-root") == 1


def test_ensure_kernel_sets_the_flag_and_env_once(tmp_path, monkeypatch):
    spec_dir = tmp_path / "kernels" / "medkit"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (medkit)", "language": "python", "env": {"KEEP": "1"}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    path = reader.ensure_kernel()
    assert path == spec_dir / "kernel.json"
    spec = json.loads(path.read_text())
    assert spec["argv"] == ["python", "-m", "ipykernel_launcher", reader.KERNEL_FLAG, "-f", "{connection_file}"]
    assert spec["env"] == {"KEEP": "1", **reader.KERNEL_ENV}
    stamp = path.stat().st_mtime_ns
    reader.ensure_kernel()
    assert path.stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_medkit_kernel_keeps_tensorflow_startup_lines_out_of_outputs():
    """The installed ``medkit`` kernel: TensorFlow's C++ start-up lines never reach a cell; Python's stderr does."""
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    spec = KernelSpecManager().get_kernel_spec("medkit")
    if reader.KERNEL_FLAG not in spec.argv:
        pytest.fail("the installed medkit kernelspec lacks the start-up-line settings: run "
                    "`python -m medkit lab --kernel-only` (make setup / make lab do it)")
    nb = new_notebook(cells=[new_code_cell(
        "import sys\nimport keras\nimport numpy as np\nimport tensorflow as tf\n"
        "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\nm.compile('adam', 'mse')\n"
        "m.fit(np.zeros((4, 3)), np.zeros(4), verbose=0)\nprint('python stderr', file=sys.stderr)")])
    NotebookClient(nb, kernel_name="medkit", timeout=120).execute()
    streams = [(o["name"], o["text"]) for o in nb.cells[0].outputs if o["output_type"] == "stream"]
    assert streams == [("stderr", "python stderr\n")], streams


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_reader_copy_runs_and_notes_a_changed_parameter(tmp_path):
    """Chapter 1's reader copy runs top to bottom; in JupyterLab, a changed parameter is noted, never silent."""
    from nbclient import NotebookClient

    chapter = REPO / "notebooks" / "01_cross_entropy.ipynb"
    reader.build_lab(tmp_path, [chapter], executed_dir=None, students=False, book_dir=None)
    path = tmp_path / "notebooks" / chapter.name
    nb = nbformat.read(path, as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    # what a student does: change the article's prediction and re-run, in a kernel that knows its notebook
    nb.cells.insert(params + 1, new_code_cell("article_prediction = [0.8, 0.2]"))
    os.environ["JPY_SESSION_NAME"] = str(path)
    try:
        NotebookClient(nb, kernel_name="medkit", timeout=180,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        del os.environ["JPY_SESSION_NAME"]
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if o.get("output_type") == "stream")
    assert ("note: the text says ce_article_example = 2.3026 (reference run, seed 0); this run gives 1.6094."
            in printed), printed[-3000:]
    assert "ce_batch_mean" not in printed  # unchanged values are not mentioned


def test_the_chinese_reader_copy_has_chinese_prose_the_same_code_and_the_same_numbers(tmp_path):
    chapter = next(p for p in discover_notebooks() if p.stem == "01_cross_entropy")
    en = reader.build_lab(tmp_path / "en", [chapter], executed_dir=None, students=False, book_dir=None)
    zh = reader.build_lab(tmp_path / "zh", [chapter], executed_dir=None, students=False, book_dir=None,
                          lang="zh")
    assert en.origins == zh.origins
    nb_en = nbformat.read(tmp_path / "en" / "notebooks" / chapter.name, as_version=4)
    nb_zh = nbformat.read(tmp_path / "zh" / "notebooks" / chapter.name, as_version=4)
    code = [(c.id, c.source) for c in nb_en.cells if c.cell_type == "code"]
    assert code == [(c.id, c.source) for c in nb_zh.cells if c.cell_type == "code"]
    prose_zh = "\n".join(c.source for c in nb_zh.cells if c.cell_type == "markdown")
    assert "交叉熵" in prose_zh and "待翻译" not in prose_zh
    assert "### 练习 1.1 (ce-ex1)" in prose_zh and "Exercise" not in prose_zh  # the copy's own words too
    numbers = re.compile(r"<abbr title=\"([^\"]+)\">([^<]+)</abbr>")
    prose_en = "\n".join(c.source for c in nb_en.cells if c.cell_type == "markdown")
    assert len(numbers.findall(prose_en)) >= 10
    assert sorted(numbers.findall(prose_zh)) == sorted(numbers.findall(prose_en))  # same values, same names
    with pytest.raises(reader.ReaderError, match="unknown language"):
        reader.build_lab(tmp_path / "fr", [chapter], executed_dir=None, lang="fr")


def test_the_chinese_reader_copy_shows_glued_words_in_chinese_and_keeps_the_computed_value():
    nb = new_notebook(cells=[new_markdown_cell("最佳融合是 {glue:text}`best_fusion`，误差 {glue:text}`loss:.2f`。")])
    nb.metadata["language"] = "zh_CN"
    out = reader.reader_notebook(nb, "06_t", values={"best_fusion": "late", "loss": 0.125}, origin="a test")
    assert ">晚期融合</abbr>" in out.cells[0].source and ">0.12</abbr>" in out.cells[0].source
    # a re-run is compared with what the code computes, not with the translation
    assert out.metadata["medkit"]["reader"]["shown"]["best_fusion"] == {"": "late"}
    english = reader.reader_notebook(new_notebook(cells=[new_markdown_cell("{glue:text}`best_fusion`")]), "06_t",
                                     values={"best_fusion": "late"}, origin="a test")
    assert ">late</abbr>" in english.cells[0].source
