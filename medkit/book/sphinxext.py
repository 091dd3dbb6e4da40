"""A Sphinx extension for the book's site, loaded by ``_config.yml`` (``sphinx: extra_extensions``).

It does three things that configuration alone cannot:

- **Author-year references.** The pages cite author-year, ``{cite:t}`` giving "Brier (1950)"
  and ``{cite:p}`` "(Brier, 1950)": the referencing style ``medkit_author_year`` registered here is
  sphinxcontrib-bibtex's ``author_year`` with round brackets instead of square ones. The reference list
  uses the same style: the pybtex formatting style ``medkit_author_year`` registered here writes
  each entry as *Authors (Year). Title. Venue.*, sorted by author and year, with labels
  "Brier 1950" instead of numbers.
- **One Thebe configuration script.** sphinx-thebe adds an inline script that declares
  ``const THEBE_JS_URL`` with ``app.add_js_file(None, body=...)`` after the HTML builder started.
  Sphinx 7.4 adds such a script to the builder at once *and* copies it again from the registry when
  it prepares writing (the second time with ``''`` instead of ``None`` as file name, so it is not
  recognised as the same script): every page declared the constant twice, and the browser reported
  ``Identifier 'THEBE_JS_URL' has already been declared``. :func:`_one_thebe_config` removes the
  registry's copy after sphinx-thebe added it, which leaves exactly one.
  The list hides its label column (the same author-year in brackets) with a small style sheet,
  ``_static/medkit_site.css``.
- **Search summaries from the file system.** Sphinx's search page fetches each result's HTML page to
  show a few lines around the match. A browser refuses ``fetch()`` of ``file://`` URLs, so a site
  opened from disk listed bare titles. The main text of every page (section ids kept, markup dropped)
  is written to ``_static/medkit_search_texts.js``, loaded by the search page only; on a ``file:``
  page it answers the search's requests from that table, over HTTP it changes nothing.
- **Two editions (English and Chinese, medkit/book/i18n.py).** With ``medkit_edition`` set (``en`` or
  ``zh_CN``, by medkit/book/site.py), every page gets a language switcher after the header buttons
  (template ``medkit-lang-switch.html``, linking the same page of the other edition, at the same section:
  a click carries the address's ``#fragment``) and ``<link rel="alternate" hreflang>`` for both editions.
  The English build writes each page's heading slugs, in order, to ``medkit_slugs_out``; the Chinese build
  reads them (``medkit_slugs_in``) and gives each translated heading its English slug, as a link target
  (so ``page.ipynb#from-likelihood-to-loss`` resolves in both editions) and as the section's HTML id (so
  a fragment means the same section in both editions).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

SEARCH_TEXTS_JS = "medkit_search_texts.js"
SITE_CSS = "medkit_site.css"
#: The reference list: the entries already start with author and year, so the label column (the same
#: author-year, in brackets) is not shown; a hanging indent separates the entries instead. The errata
#: table is set a little smaller, so that its six columns fit the text column.
CSS = """
div.citation-list > div.citation { display: block; padding-left: 1.5em; text-indent: -1.5em; margin: 0 0 0.6em 0; }
div.citation-list > div.citation > span.label { display: none; }
div.citation-list > div.citation > p { display: inline; margin: 0; }
/* The errata table (book/errata.md): six columns and the article's formulas fit the text column. */
div.errata-examples table { font-size: 0.84em; }
div.errata-examples th, div.errata-examples td { padding: 0.3em 0.35em; }
/* Notebook code and its output: lines of up to 88 characters (the kit's limit) in a ~610 px column.
   A smaller monospace fits about 85 of them; a longer line wraps instead of scrolling sideways. */
div.cell div.cell_input pre, div.cell div.cell_output pre { font-size: 12px; line-height: 1.45;
  white-space: pre-wrap; overflow-wrap: anywhere; }
/* Shell commands in the prose wrap too. */
article.bd-article div.highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
/* Tables in the prose and pandas tables in outputs: cells wrap, a little smaller type. */
article.bd-article table { font-size: 0.88em; }
article.bd-article table td, article.bd-article table th { white-space: normal; overflow-wrap: anywhere; }
div.cell_output div.output.text_html table { font-size: 0.82em; }
/* The errata table's short columns (the article's section, the verdict) stay on one line: in Chinese a
   narrow column otherwise breaks after every character. */
section#worked-examples-recomputed table :is(td, th):is(:nth-child(2), :nth-child(5)) { white-space: nowrap; }
/* and a number (the printed and the recomputed value) breaks only at a space, never inside its digits */
section#worked-examples-recomputed table :is(td, th):is(:nth-child(3), :nth-child(4)) { overflow-wrap: normal; }
/* The Chinese edition: a cell or page whose translation is stale or missing, and the language switcher. */
.i18n-pending { display: inline-block; background: #fff3cd; color: #664d03; border: 1px solid #e0b000;
  border-radius: 4px; padding: 0 0.5em; font-size: 0.85em; }
.header-article-items__end { display: flex; flex-wrap: nowrap; align-items: center; }
a.medkit-lang-switch { font-size: 0.9rem; font-weight: 600; margin-left: 0.2em; white-space: nowrap; }
"""
STYLE_NAME = "medkit_author_year"

_DROP_BLOCKS = re.compile(r"<(script|style|svg|math)\b.*?</\1\s*>", re.S | re.I)
_SECTION_OPEN = re.compile(r"<section\b[^>]*?\bid=\"([^\"]+)\"[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def page_text(body: str) -> str:
    """The main text of a page's body HTML, as HTML that keeps only ``<section id=...>`` elements.

    Sphinx's search looks a result's anchor up with ``[role="main"] #anchor`` and takes the text
    content of what it finds, so the sections keep their ids and nesting; every other tag, the scripts,
    styles and inline SVG go.

    Parameters
    ----------
    body : str
        The page body as Sphinx renders it (the ``body`` of ``html-page-context``).

    Returns
    -------
    str
        ``<div role="main">...</div>`` with the text (entities kept) and the sections.

    Examples
    --------
    >>> page_text('<section id="a"><h1>Loss<a class="headerlink" href="#a">#</a></h1>'
    ...           '<p>Cross-<em>entropy</em></p><script>x()</script></section>')
    '<div role="main"><section id="a"> Loss # Cross- entropy </section></div>'
    """
    text = _DROP_BLOCKS.sub(" ", body)
    parts: list[str] = []
    pos = 0
    for m in re.finditer(r"<section\b[^>]*>|</section\s*>", text, re.I):
        parts.append(_TAG.sub(" ", text[pos:m.start()]))
        opening = _SECTION_OPEN.match(m.group(0))
        if m.group(0).startswith("</"):
            parts.append("</section>")
        else:
            parts.append(f'<section id="{html.escape(opening.group(1))}">' if opening else "<section>")
        pos = m.end()
    parts.append(_TAG.sub(" ", text[pos:]))
    inner = _SPACE.sub(" ", "".join(parts))
    return f'<div role="main">{inner}</div>'


def _register_author_year_style() -> None:
    """Register the pybtex formatting style ``medkit_author_year`` (see the module docstring)."""
    from collections import Counter

    from pybtex.plugin import register_plugin
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.formatting import unsrt
    from pybtex.style.template import join, node, optional, sentence, words
    from pybtex.style.template import field as bib_field

    from pybtex.richtext import Text
    from pybtex.style.template import FieldIsMissing

    @node
    def nothing(children, data):
        return Text()

    @node
    def person_names(children, context, role):
        """The persons of ``role``, last name first; BibTeX's ``and others`` becomes "et al."."""
        try:
            persons = list(context["entry"].persons[role])
        except KeyError:
            raise FieldIsMissing(role, context["entry"]) from None
        style = context["style"]
        others = bool(persons) and str(persons[-1]) == "others"
        formatted = [style.format_name(person, style.abbreviate_names) for person in persons[:-1 if others else None]]
        if others:
            return join(sep=", ")[formatted + ["et al."]].format_data(context)
        return join(sep=", ", sep2=" and ", last_sep=", and ")[formatted].format_data(context)

    def without_date(template):
        """A copy of a template with unsrt's trailing ``month year`` taken out (the year comes first)."""
        if template is unsrt.date:
            return nothing
        if not hasattr(template, "children"):
            return template
        copy = template._clone()
        copy.children = [without_date(child) for child in template.children]
        return copy

    class AuthorYearStyle(unsrt.Style):
        """*Surname, I., Surname, I., and Surname, I. (Year). Title. Venue.*, sorted by author and year."""

        default_name_style = "lastfirst"
        default_label_style = STYLE_NAME
        default_sorting_style = "author_year_title"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("abbreviate_names", True)
            super().__init__(*args, **kwargs)

        def format_names(self, role, as_sentence=True):
            formatted = person_names(role)
            if not as_sentence:
                return formatted
            if role == "author":
                return sentence[words[formatted, join["(", bib_field("year"), ")"]]]
            return sentence[formatted]

        def format_entry(self, label, entry, bib_data=None):
            get_template = getattr(self, f"get_{entry.type}_template")
            template = without_date(get_template(entry))
            if "author" not in entry.persons:  # no author: the year follows the title
                template = template[optional[sentence[join["(", bib_field("year"), ")"]]]]
            from pybtex.style import FormattedEntry
            text = template.format_data({"entry": entry, "style": self, "bib_data": bib_data})
            return FormattedEntry(entry.key, text, label)

    class AuthorYearLabels(BaseLabelStyle):
        """Labels "Brier 1950", "Hanley and McNeil 1982", "Acosta et al. 2022"; "2022a", "2022b" when two collide."""

        def format_labels(self, sorted_entries):
            labels = [author_year_label(entry) for entry in sorted_entries]
            counts = Counter(labels)
            seen: Counter = Counter()
            for label in labels:
                if counts[label] > 1:
                    seen[label] += 1
                    yield f"{label}{chr(ord('a') + seen[label] - 1)}"
                else:
                    yield label

    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabels)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle)


def author_year_label(entry) -> str:
    """The author-year label of a pybtex entry, as the text cites it.

    Parameters
    ----------
    entry : pybtex.database.Entry
        A bibliography entry.

    Returns
    -------
    str
        "Surname Year" for one author, "Surname and Surname Year" for two, "Surname et al. Year" for more
        (BibTeX's ``and others`` counts as more); the editors stand in for missing authors, the title for both.

    Examples
    --------
    >>> from pybtex.database import Entry, Person
    >>> author_year_label(Entry("article", [("year", "1950")], persons={"author": [Person("Brier, Glenn W.")]}))
    'Brier 1950'
    >>> author_year_label(Entry("article", [("year", "1982")],
    ...                         persons={"author": [Person("Hanley, J. A."), Person("McNeil, B. J.")]}))
    'Hanley and McNeil 1982'
    >>> author_year_label(Entry("article", [("year", "2022")],
    ...                         persons={"author": [Person("Cardoso, M. J."), Person("others")]}))
    'Cardoso et al. 2022'
    """
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    surnames = [" ".join(p.prelast_names + p.last_names) for p in persons]
    surnames = [_plain(name) for name in surnames]
    if not surnames:
        who = _plain(entry.fields.get("title", "Anonymous"))
    elif len(surnames) == 1:
        who = surnames[0]
    elif len(surnames) == 2 and surnames[1] != "others":
        who = f"{surnames[0]} and {surnames[1]}"
    else:
        who = f"{surnames[0]} et al."
    return f"{who} {entry.fields.get('year', 'n.d.')}"


def _plain(text: str) -> str:
    """BibTeX markup taken out of a name: ``Baltru{\\v{s}}aitis`` becomes ``Baltrušaitis``."""
    from pybtex.richtext import Text

    return Text.from_latex(text).render_as("text")


def _register_round_brackets() -> None:
    """Register the referencing style ``medkit_author_year``: sphinxcontrib-bibtex's author-year citations
    with round brackets, "Brier (1950)" and "(Brier, 1950)" (its own ``author_year`` writes "[Brier, 1950]")."""
    from dataclasses import dataclass, field

    import sphinxcontrib.bibtex.plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    def round_brackets() -> BracketStyle:
        return BracketStyle(left="(", right=")", sep="; ")

    @dataclass
    class RoundAuthorYear(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = field(default_factory=round_brackets)
        bracket_textual: BracketStyle = field(default_factory=round_brackets)
        bracket_author: BracketStyle = field(default_factory=round_brackets)
        bracket_label: BracketStyle = field(default_factory=round_brackets)
        bracket_year: BracketStyle = field(default_factory=round_brackets)

    sphinxcontrib.bibtex.plugin.register_plugin("sphinxcontrib.bibtex.style.referencing", STYLE_NAME,
                                                RoundAuthorYear)


def _one_thebe_config(app, env, docnames) -> None:
    """Drop the registry's copy of sphinx-thebe's inline ``const THEBE_JS_URL`` script (see the module docstring)."""
    app.registry.js_files = [(filename, attrs) for filename, attrs in app.registry.js_files
                             if not (not filename and "THEBE_JS_URL" in str(attrs.get("body", "")))]


_EXERCISE_TITLE = re.compile(r"(Exercise|练习) ?\((\d+\.\d+)\)")


def exercise_titles(body: str) -> str:
    """``Exercise (1.2)`` -> ``Exercise 1.2`` in a page body.

    The chapters number their exercises chapter.exercise as the exercise's title
    (with ``:nonumber:``, since sphinx-exercise counts across the whole book), and
    sphinx-exercise puts a title in brackets.

    Examples
    --------
    >>> exercise_titles('<p class="admonition-title">Exercise (1.2)</p>')
    '<p class="admonition-title">Exercise 1.2</p>'
    >>> exercise_titles('Solution to<a href="#mm-ex4"> Exercise (6.4)</a>')
    'Solution to<a href="#mm-ex4"> Exercise 6.4</a>'
    >>> exercise_titles('<p class="admonition-title">练习 (1.2)</p>')
    '<p class="admonition-title">练习 1.2</p>'
    """
    return _EXERCISE_TITLE.sub(lambda m: f"{m.group(1)} {m.group(2)}", body)


_FIGURE_NUMBER = re.compile(r'(<span class="(?:caption-number|std std-numref)">)([^<\d]*?)(\d+)')
_CHAPTER_PAGE = re.compile(r"notebooks/(\d+)_")


def chapter_figure_numbers(body: str, chapter: int) -> str:
    """Number a chapter's figures chapter.figure (``Fig. 5.3``), as its exercises are.

    Sphinx numbers figures across the whole book when the table of contents is not
    numbered; every reference to a chapter's figure is on its own page, so the
    page's captions and references are renumbered together, in caption order.

    Examples
    --------
    >>> body = ('<span class="caption-number">Fig. 15 </span>, '
    ...         '<span class="std std-numref">Fig. 15</span>')
    >>> chapter_figure_numbers(body, 5)
    '<span class="caption-number">Fig. 5.1 </span>, <span class="std std-numref">Fig. 5.1</span>'
    """
    order: dict[str, int] = {}
    for m in _FIGURE_NUMBER.finditer(body):
        if "caption-number" in m.group(1):
            order.setdefault(m.group(3), len(order) + 1)
    return _FIGURE_NUMBER.sub(
        lambda m: m.group(1) + m.group(2) + (f"{chapter}.{order[m.group(3)]}" if m.group(3) in order
                                             else m.group(3)), body)


def _exercise_titles(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    if context.get("body"):
        context["body"] = exercise_titles(context["body"])
        chapter = _CHAPTER_PAGE.match(pagename)
        if chapter:
            context["body"] = chapter_figure_numbers(context["body"], int(chapter.group(1)))


def _collect_text(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    if pagename == "search":
        app.add_js_file(SEARCH_TEXTS_JS)  # called here, it goes on this page only
    if doctree is not None and context.get("body"):
        app.medkit_search_texts[pagename] = page_text(context["body"])


_PATCH = """
(function () {
  if (window.location.protocol !== "file:") return;
  const texts = window.MEDKIT_SEARCH_TEXTS;
  const fetchOriginal = window.fetch ? window.fetch.bind(window) : null;
  const suffix = (window.DOCUMENTATION_OPTIONS || {}).FILE_SUFFIX || ".html";
  window.fetch = function (resource, options) {
    const root = document.documentElement.dataset.content_root || "";
    const url = String(resource);
    if (url.startsWith(root) && url.endsWith(suffix)) {
      const page = url.slice(root.length, url.length - suffix.length);
      if (Object.prototype.hasOwnProperty.call(texts, page))
        return Promise.resolve(new Response(texts[page], {headers: {"Content-Type": "text/html"}}));
    }
    return fetchOriginal ? fetchOriginal(resource, options)
                         : Promise.reject(new TypeError("fetch is not available"));
  };
})();
"""


def _write_static(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    (Path(app.outdir) / "_static").mkdir(parents=True, exist_ok=True)
    (Path(app.outdir) / "_static" / SITE_CSS).write_text(CSS.lstrip(), encoding="utf-8")
    texts = dict(sorted(app.medkit_search_texts.items()))
    out = Path(app.outdir) / "_static" / SEARCH_TEXTS_JS
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(texts, ensure_ascii=False).replace("</", "<\\/")
    out.write_text(f"window.MEDKIT_SEARCH_TEXTS = {data};\n{_PATCH}", encoding="utf-8")


EDITIONS = {"en": ("zh_CN", "zh-CN", "中文", "zh/"), "zh_CN": ("en", "en", "English", "../")}


def lang_switch(edition: str, content_root: str, pagename: str, suffix: str = ".html") -> dict[str, str]:
    """The switcher's link and the ``hreflang`` head lines for a page of ``edition``.

    Examples
    --------
    >>> lang_switch("en", "../", "notebooks/01_x")["href"]
    '../zh/notebooks/01_x.html'
    >>> lang_switch("zh_CN", "", "index")["href"]
    '../index.html'
    """
    other, other_tag, label, prefix = EDITIONS[edition]
    href = f"{content_root}{prefix}{pagename}{suffix}"
    own = f"{content_root}{pagename}{suffix}"
    own_tag = EDITIONS[other][1]
    links = (f'<link rel="alternate" hreflang="{own_tag}" href="{html.escape(own)}" />\n'
             f'<link rel="alternate" hreflang="{other_tag}" href="{html.escape(href)}" />\n')
    return {"href": href, "hreflang": other_tag, "label": label, "head": links}


def _lang_switch(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    edition = app.config.medkit_edition
    if edition not in EDITIONS:
        return
    switch = lang_switch(edition, context.get("content_root", ""), pagename, context.get("file_suffix", ".html"))
    context["medkit_lang_switch"] = switch
    context["metatags"] = context.get("metatags", "") + switch["head"]


def _add_templates(app, config) -> None:
    config.templates_path = list(config.templates_path) + [str(Path(__file__).parent / "templates")]


def _write_slugs(app, exception) -> None:
    """English build: every page's heading slugs in document order (read by the Chinese build)."""
    if exception is not None or not app.config.medkit_slugs_out:
        return
    slugs = {doc: list(meta.get("myst_slugs", {})) for doc, meta in sorted(app.env.metadata.items())}
    Path(app.config.medkit_slugs_out).write_text(json.dumps(slugs, ensure_ascii=False, indent=1), encoding="utf-8")


def english_slugs(app, doctree) -> None:
    """Chinese build: give each translated heading its English slug (target and HTML id), by position.

    Run as a transform (:class:`EnglishSlugs`) before MyST resolves ``[text](#slug)`` links (priority 879),
    on the same slug table (``document.myst_slugs`` is ``env.metadata[docname]["myst_slugs"]``).
    """
    from docutils import nodes

    path = app.config.medkit_slugs_in
    if not path:
        return
    if not hasattr(app, "medkit_english_slugs"):
        app.medkit_english_slugs = json.loads(Path(path).read_text(encoding="utf-8"))
    docname = app.env.docname
    english = app.medkit_english_slugs.get(docname)
    sections = [n for n in doctree.findall(nodes.section) if "slug" in n]
    if not english or len(english) != len(sections):
        return  # headings differ from the English page: leave the page's own slugs
    meta = getattr(doctree, "myst_slugs", None)
    if meta is None:
        meta = app.env.metadata[docname].setdefault("myst_slugs", {})
    for section, slug in zip(sections, english, strict=True):
        if slug == section["slug"] or slug in meta:
            continue
        if slug not in doctree.ids:
            section["ids"].insert(0, slug)
            doctree.ids[slug] = section
        line, _, text = meta.get(section["slug"], (section.line, None, ""))
        meta[slug] = (line, section["ids"][0], text)


def _english_slugs_transform():
    from sphinx.transforms import SphinxTransform

    class EnglishSlugs(SphinxTransform):
        """:func:`english_slugs` before MyST's ``ResolveAnchorIds`` (879)."""

        default_priority = 870

        def apply(self, **kwargs: Any) -> None:
            english_slugs(self.app, self.document)

    return EnglishSlugs


def setup(app) -> dict[str, Any]:
    app.add_config_value("medkit_edition", "", "html")
    app.add_config_value("medkit_slugs_out", "", "env")
    app.add_config_value("medkit_slugs_in", "", "env")
    app.connect("config-inited", _add_templates)
    app.connect("html-page-context", _lang_switch)
    app.add_transform(_english_slugs_transform())
    app.connect("build-finished", _write_slugs)
    _register_author_year_style()
    _register_round_brackets()
    app.medkit_search_texts = {}  # page name -> page_text(body), filled while the pages are written
    app.connect("env-before-read-docs", _one_thebe_config, priority=900)  # after sphinx-thebe's (500)
    app.connect("html-page-context", _exercise_titles, priority=400)
    app.connect("html-page-context", _collect_text)
    app.connect("build-finished", _write_static)
    app.add_css_file(SITE_CSS)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
