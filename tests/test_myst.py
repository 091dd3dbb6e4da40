"""One set of MyST patterns (``medkit.book.myst``) for the reader copies and the translation checks."""
from __future__ import annotations

import re

import pytest

from medkit.book import i18n, myst, reader

SHARED = {name: value for name, value in vars(myst).items() if isinstance(value, re.Pattern)}


@pytest.mark.parametrize("module", [reader, i18n], ids=lambda m: m.__name__)
def test_the_reader_and_the_checks_define_no_myst_pattern_of_their_own(module):
    own = {name: value.pattern for name, value in vars(module).items() if isinstance(value, re.Pattern)}
    copies = [name for name, pattern in own.items() if pattern in {p.pattern for p in SHARED.values()}]
    assert not copies, f"{module.__name__} copies patterns of medkit.book.myst: {copies}"
    assert module.myst is myst


@pytest.mark.parametrize("opening", [":::{note}", "::::{note}", "```{note}", "~~~{note}", "::: {note}"])
def test_a_directive_the_reader_renders_is_one_the_checks_keep(opening):
    closing = opening.split("{")[0].strip()
    english = f"Before.\n\n{opening}\nThe loss is small.\n{closing}\n"
    rendered = reader.render_markdown(reader.Context("t"), english)
    assert "{note}" not in rendered and "> **Note**" in rendered, rendered
    kept = f"之前。\n\n{opening}\n损失很小。\n{closing}\n"
    assert i18n.check_translation(english, kept) == []
    dropped = "之前。\n\n损失很小。\n"
    assert any(p.startswith("directive line") for p in i18n.check_translation(english, dropped)), opening


def test_labels_options_and_headings_read_the_same_in_both():
    english = "(sec-ce)=\n## Cross-entropy\n\n:::{figure} a.png\n:name: fig-a\n:alt: A curve\nA curve.\n:::\n"
    ctx = reader.Context("t")
    reader.render_markdown(ctx, english)
    assert ctx.labels == {"sec-ce": ("section", "Cross-entropy"), "fig-a": ("figure", "Figure 1")}
    # the translation may translate the alt text, not the label, the name or the heading level
    good = "(sec-ce)=\n## 交叉熵\n\n:::{figure} a.png\n:name: fig-a\n:alt: 曲线 A\n一条曲线。\n:::\n"
    assert i18n.check_translation(english, good) == []
    bad = good.replace("(sec-ce)=", "(sec-交叉熵)=").replace(":name: fig-a", ":name: 图-a").replace("## ", "### ")
    problems = i18n.check_translation(english, bad)
    assert {p.split(":")[0].split(" differ")[0] for p in problems} == {"labels", "option lines", "heading levels"}
