r"""The MyST markup the book's tools recognise: one set of regular expressions, shared.

Two tools read the chapters' MyST (no chapter teaches it; the book's chapter on the build is
``book/how_to_use.md``):

- :mod:`medkit.book.reader` renders it as plain Markdown for the JupyterLab reader copies, line by
  line (a directive's fence, its options, a role inside a line);
- :mod:`medkit.book.i18n` checks that a translation keeps roles, maths, directives, options and labels
  verbatim, on whole cells (a role or code span may wrap across lines inside a paragraph).

Where the two need the same thing they use the same pattern. Where they differ on purpose, there are
two named patterns and the comment says why: :data:`ROLE` (any role, one line, for rendering) against
:data:`REFERENCE_ROLE`, :data:`GLUE_ROLE` and :data:`CODE_SPAN` (the spans a translation must keep,
across line breaks); :data:`FENCE` (every fence, for rendering) against :data:`CODE_FENCE` (the fences
that may open code, for finding code blocks).

Examples
--------
Roles and inline spans:

>>> [m["role"] for m in ROLE.finditer("{glue:text}`ce:.3f` and `code` and {ref}`sec-x`")]
['glue:text', None, 'ref']
>>> ROLE.search("see {numref}`Figure %s <fig-x>`.").group("role", "content")
('numref', 'Figure %s <fig-x>')
>>> REFERENCE_ROLE.findall("{cite:p}`smith2020` {term}`late\nfusion` {glue:text}`x`")
[('cite:p', 'smith2020'), ('term', 'late\nfusion')]
>>> GLUE_ROLE.findall("AUROC {glue:text}`auc:.3f` ({glue}`n`)")
['{glue:text}`auc:.3f`', '{glue}`n`']
>>> CODE_SPAN.findall("run `make\nbook` or {ref}`x`")
['make\nbook']
>>> EXPLICIT.match("the first section <sec-x>").group("text", "target")
('the first section', 'sec-x')

Blocks:

>>> FENCE.match("  ::: {note} Hi").group("indent", "fence", "rest")
('  ', ':::', '{note} Hi')
>>> CODE_FENCE.match(":::") is None, CODE_FENCE.match("```python")["rest"]
(True, 'python')
>>> bool(COLON_CLOSE.match("::::")), bool(COLON_CLOSE.match(":::{note}"))
(True, False)
>>> DIRECTIVE.match("{glue:figure} roc_plot").group("name", "arg")
('glue:figure', 'roc_plot')
>>> OPTION.match(":label: ch1-ex1").group("key", "value")
('label', 'ch1-ex1')
>>> TARGET.match("(sec-cross-entropy)=")["label"]
'sec-cross-entropy'
>>> HEADING.match("## Cross-entropy ##").group("hashes", "title")
('##', 'Cross-entropy')

Maths, links and HTML:

>>> DISPLAY_MATH.findall("$$\na = b\n$$ and $c$")
['$$\na = b\n$$']
>>> INLINE_MATH.findall(r"costs \$5 and $p_i$ or $$x$$")
['p_i']
>>> line = "$$ H(p, q) = -sum p log q $$ (eq-ce)"
>>> m = MATH_LABEL.search(line)
>>> m["label"], line[:m.start()] + "$$"
('eq-ce', '$$ H(p, q) = -sum p log q $$')
>>> LINK.findall("[the glossary](glossary.md) and [x](#sec-x)")
['glossary.md', '#sec-x']
>>> COMMENT.findall("a <!-- note\nhere --> b"), HTML_TAG.findall('<abbr title="x">1</abbr>')
(['<!-- note\nhere -->'], ['<abbr title="x">', '</abbr>'])
"""
from __future__ import annotations

import re

# ---------------------------------------------------------------- roles and inline spans
#: A role is ``{name}`` glued to a code span; a code span without it matches with ``role`` None.
#: Used by the reader on one line at a time, so it does not cross line breaks, and it counts the
#: backticks (````` ``a`b`` `````) as CommonMark does.
ROLE = re.compile(r"(?:\{(?P<role>[A-Za-z][\w:+-]*)\})?(?P<ticks>`+)(?P<content>.+?)(?P=ticks)")

#: The roles whose target a translation must keep: citations, cross-references and glossary terms.
#: Unlike :data:`ROLE` it names only these roles and may wrap across a line break (the checks read
#: whole cells), because a translated cell may break its lines elsewhere.
REFERENCE_ROLE = re.compile(r"\{(cite(?::\w+)?|numref|ref|doc|eq|term)\}`([^`]*)`")

#: A glue role, whole (``{glue}`x``` or ``{glue:text}`x:.3f```): the checks compare them verbatim.
GLUE_ROLE = re.compile(r"\{glue(?::[\w-]+)?\}`[^`]*`")

#: Inline code that is not a role's body: one backtick each side, may wrap but not across paragraphs
#: (a blank line). The checks use it on whole cells; the reader copies code spans as they are
#: (:data:`ROLE` without a role), so it has no use for this one.
CODE_SPAN = re.compile(r"(?<![`}])`((?:[^`\n]|\n(?!\s*\n))+)`(?!`)")

#: The body of a reference role with an explicit title, ``title <target>``.
EXPLICIT = re.compile(r"^(?P<text>.*?)[ \t]*<(?P<target>[^<>]+)>$", re.DOTALL)

# ---------------------------------------------------------------- blocks


def _fence(markers: str) -> re.Pattern[str]:
    return re.compile(rf"^(?P<indent>[ \t]*)(?P<fence>{markers})[ \t]*(?P<rest>.*?)[ \t]*$")


#: A fence line of a directive or a code block: ``:::``, ```` ``` ```` or ``~~~`` (three or more),
#: with what follows it in ``rest`` (a ``{directive}`` head, a code block's language, or nothing).
FENCE = _fence(r":{3,}|`{3,}|~{3,}")

#: The fences that may open a code block: backticks and tildes only, because a ``:::`` line is always
#: a directive's (or its close) and never code. The checks use it to set code blocks aside.
CODE_FENCE = _fence(r"`{3,}|~{3,}")

#: A colon fence alone on its line: it closes a ``:::{directive}``.
COLON_CLOSE = re.compile(r"^\s*:{3,}\s*$")

#: A directive's head, the ``rest`` of its :data:`FENCE` line: ``{name} argument``.
DIRECTIVE = re.compile(r"^\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*)$")

#: A directive option line (after stripping it): ``:key: value``.
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")

#: A label line (after stripping it), ``(label)=``, naming the heading or block under it.
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*$")

#: An ATX heading: its ``#`` run (the level) and its title without closing ``#``.
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$")

# ---------------------------------------------------------------- maths
#: Display maths, ``$$ ... $$``, over any number of lines.
DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)

#: Inline maths, ``$...$`` on one line (not ``$$``, not an escaped ``\$``); group 1 is the formula.
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")

#: The label after a display formula's closing ``$$``: ``$$ (eq-ce)`` at the end of a line.
MATH_LABEL = re.compile(r"\$\$[ \t]*\((?P<label>[\w:-]+)\)[ \t]*$")

# ---------------------------------------------------------------- links and HTML
#: The target of a Markdown link, ``[text](target)``.
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: An HTML comment, over any number of lines.
COMMENT = re.compile(r"<!--.*?-->", re.S)
#: An HTML tag, opening or closing.
HTML_TAG = re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]*)?>")


def directive(line: str) -> tuple[str, str, str] | None:
    """``(fence, name, argument)`` when ``line`` opens a directive, else ``None``.

    Examples
    --------
    >>> directive("::::{exercise} Entropy of a fair coin")
    ('::::', 'exercise', 'Entropy of a fair coin')
    >>> directive("```{code-cell} python")
    ('```', 'code-cell', 'python')
    >>> directive("```python") is None
    True
    """
    fence = FENCE.match(line)
    head = DIRECTIVE.match(fence["rest"]) if fence else None
    return (fence["fence"], head["name"], head["arg"].strip()) if head else None


def opens(text: str, name: str) -> bool:
    """Whether a line of ``text`` starts with a colon fence that opens the directive ``{name}``.

    Examples
    --------
    >>> opens("Try it.\\n:::{solution-start} ch1-ex1\\n:::", "solution-start")
    True
    >>> opens(":::{solution-end}", "solution-start")
    False
    """
    return re.search(rf"^:{{3,}}\{{{re.escape(name)}\}}", text, re.MULTILINE) is not None
