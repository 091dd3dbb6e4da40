"""The glossary is the Chinese edition's terminology source: one English term, one Chinese term, used everywhere.

``book/glossary.md`` lists each term with its Chinese headword, ``i18n/zh_CN/book/glossary.md`` translates the
page; the chapters' catalogs (``i18n/zh_CN/notebooks/*.json``) and the translated pages must use the glossary's
Chinese term, not a competing translation. :data:`COMPETING` lists the competing translations met (and unified)
so far: when a translator writes one again, the test names the entry.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medkit.book import myst
from medkit.book.site import glossary_terms

REPO = Path(__file__).resolve().parents[1]
EN_GLOSSARY = REPO / "book" / "glossary.md"
ZH_GLOSSARY = REPO / "i18n" / "zh_CN" / "book" / "glossary.md"
HAN = re.compile(r"[\u4e00-\u9fff]")

#: Glossary Chinese term -> the competing translations of the same English term that the catalogs used
#: before they were unified (regular expressions, matched against prose: code, roles and links removed).
COMPETING: dict[str, list[str]] = {
    "输出头": ["分类头", "预测头"],                      # head
    "晚期融合": ["后期融合", "决策级融合", "决策层融合"],  # late fusion
    "早期融合": ["前期融合"],                             # early fusion
    "中期融合": ["中间融合"],                             # intermediate fusion
    "自助法": ["自举法", "自助抽样法"],                   # bootstrap
    "综合项目": ["综合案例", "顶点项目", "毕业项目"],     # capstone
    "清单": [r"(?<![（(])\bmanifests?\b(?![）)])"],       # manifest, left in English
    "一倍标准误规则": ["一个标准误规则", "一倍标准差规则", "1-SE 规则"],  # one-standard-error rule
    "标准误": ["标准误差"],                               # standard error
    "早停": ["提前停止", "提前终止"],                     # early stopping
    "声谱图": ["频谱图", "语谱图"],                       # spectrogram
    "批量大小": ["批大小", "批次大小"],                   # batch size
    "轮次": [r"(?<![（(A-Za-z_])epochs?\b(?![）)])"],     # epoch, left in English in the prose
    "模态丢弃": [r"模态\s*dropout"],                      # modality dropout
    "分支": ["图像分支", "声音分支", "临床记录分支"],     # the branches are 影像/文本/音频分支
    "词元": ["令牌"],                                     # token
    "词表": ["词汇表"],                                   # vocabulary
}


def glossary_entries(path: Path) -> dict[str, str]:
    """English headword -> Chinese headword, for the entries of the ``{glossary}`` blocks that have both."""
    entries: dict[str, str] = {}
    inside, block = False, []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if re.match(r"^\s*(`{3,}|:{3,})\{glossary\}", line):
            inside = True
        elif inside and re.match(r"^\s*(`{3,}|:{3,})\s*$", line):
            inside = False
        elif inside and line and not line[0].isspace():
            block.append(line.strip())
            continue
        if len(block) >= 2 and not HAN.search(block[0]) and HAN.search(block[1]):
            assert block[0] not in entries, f"{path}: {block[0]!r} is in the glossary twice"
            entries[block[0]] = block[1]
        block = []
    return entries


def prose(text: str) -> str:
    """Markdown without code blocks, code spans, roles, link targets and HTML comments."""
    lines, fence = [], None
    for line in text.split("\n"):
        m = myst.CODE_FENCE.match(line)
        if fence is None and m and not m["rest"].startswith("{"):
            fence = m["fence"]
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
        elif fence is None:
            lines.append(myst.ROLE.sub(" ", line))
    return re.sub(r"\]\([^)]*\)", "]", myst.COMMENT.sub(" ", "\n".join(lines)))


def zh_texts() -> list[tuple[str, str]]:
    """``(where, Chinese prose)`` for every catalog entry and translated page."""
    out = []
    for path in sorted((REPO / "i18n" / "zh_CN" / "notebooks").glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["entries"]:
            out.append((f"{path.name} {entry['id']} ({entry['field']})", prose(entry["zh"])))
    for path in sorted((REPO / "i18n" / "zh_CN" / "book").glob("*.md")):
        out.append((f"book/{path.name}", prose(path.read_text(encoding="utf-8"))))
    # the figures' labels (medkit.plots draws them from this catalog)
    figures = REPO / "i18n" / "zh_CN" / "figures.json"
    for en, zh in json.loads(figures.read_text(encoding="utf-8"))["strings"].items():
        out.append((f"figures.json {en!r}", zh))
    return out


def test_both_glossary_pages_give_each_term_the_same_chinese_headword():
    english, chinese = glossary_entries(EN_GLOSSARY), glossary_entries(ZH_GLOSSARY)
    assert len(english) > 40, "the glossary parser found too few entries"
    assert english == chinese
    by_zh: dict[str, list[str]] = {}
    for en, zh in english.items():
        by_zh.setdefault(zh, []).append(en)
    assert {zh: ens for zh, ens in by_zh.items() if len(ens) > 1} == {}, "one Chinese term for two English terms"


def test_every_chinese_headword_is_in_the_search_dictionary():
    terms = set(glossary_terms(EN_GLOSSARY, ZH_GLOSSARY))
    missing = [zh for zh in glossary_entries(ZH_GLOSSARY).values() if zh not in terms]
    assert not missing, f"glossary headwords the Chinese search dictionary misses: {missing}"


def test_the_competing_variants_are_of_glossary_terms():
    headwords = set(glossary_entries(ZH_GLOSSARY).values())
    assert set(COMPETING) <= headwords, set(COMPETING) - headwords


@pytest.mark.parametrize("term", sorted(COMPETING))
def test_the_chinese_edition_uses_the_glossarys_term(term):
    found = []
    for where, text in zh_texts():
        for variant in COMPETING[term]:
            for m in re.finditer(variant, text):
                found.append(f"{where}: {m.group(0)!r} in …{text[max(0, m.start() - 20):m.end() + 10]}…")
    assert not found, (f"the glossary translates this term as {term}; use it instead of:\n  "
                       + "\n  ".join(found))


def test_the_check_finds_a_competing_variant():
    text = prose("训练在验证 AUROC 连续 `patience` 个 epoch 没有提升时提前停止，见 `epochs`。")
    assert re.search(COMPETING["轮次"][0], text) and re.search(COMPETING["早停"][0], text)
    assert not re.search(COMPETING["轮次"][0], prose("每个轮次（epoch）之后；`n_epochs`"))
