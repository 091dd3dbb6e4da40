"""The rows of the errata table (``book/errata.json``), read for :mod:`medkit.book.repro`.

The table on the errata page lists every worked example of the source article
that a chapter recomputes. Its rows are data, kept next to the page they
describe; the values in them are glue keys, never numbers: the chapters compute
the values and :func:`medkit.book.repro.errata_rows` fills them in at build time.

Examples
--------
>>> rows = load_rows()
>>> rows[0]["stem"], rows[0]["correct"]
('01_cross_entropy', 'ce_article_example')
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medkit import REPO_ROOT

ERRATA_FILE = REPO_ROOT / "book" / "errata.json"
REQUIRED = ("stem", "example", "article_section", "printed", "correct")
OPTIONAL = {"section": None, "printed_same": False, "quote": None, "quote_en": None}


def _json_list(path: Path, key: str) -> list[Any]:
    """The list under ``key`` of the JSON object in ``path``; a clear error naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}).") from None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected an object with a list '{key}'.")
    return items

def load_rows(path: str | Path = ERRATA_FILE) -> list[dict[str, Any]]:
    """The errata rows as dicts with the fields of :class:`medkit.book.repro.Erratum`.

    Parameters
    ----------
    path : str or Path
        The JSON file: ``{"rows": [{"stem": ..., "example": ..., "article_section": ...,
        "printed": key or null, "correct": key, "section": heading or null,
        "printed_same": bool, "quote": the article's words in Chinese or null,
        "quote_en": their English translation or null}, ...]}``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not valid JSON, or a row lacks a required field, has an unknown one, or a field of the wrong type
        (the message names the row).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"errata file {path} not found.")
    rows = _json_list(path, "rows")
    out = []
    for i, row in enumerate(rows):
        where = f"{path.name}, row {i + 1}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: a row must be an object, got {type(row).__name__}.")
        missing = [k for k in REQUIRED if k not in row]
        unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
        if missing or unknown:
            raise ValueError(f"{where}: missing field(s) {missing}, unknown field(s) {unknown}.")
        for key in ("stem", "example", "article_section", "correct"):
            if not isinstance(row[key], str) or not row[key]:
                raise ValueError(f"{where}: '{key}' must be a non-empty string.")
        if row["printed"] is not None and not isinstance(row["printed"], str):
            raise ValueError(f"{where}: 'printed' must be a glue key or null.")
        for key in ("quote", "quote_en"):
            if row.get(key) is not None and (not isinstance(row[key], str) or not row[key].strip()):
                raise ValueError(f"{where}: '{key}' must be a non-empty string or null.")
        if row.get("quote_en") is not None and row.get("quote") is None:
            raise ValueError(f"{where}: 'quote_en' translates 'quote', which is missing.")
        out.append({**OPTIONAL, **row})
    return out


# --------------------------------------------------------------------------- the rows in Chinese

#: The Chinese of the rows' descriptions (``example``), for the Chinese edition's errata table.
TRANSLATIONS_FILE = REPO_ROOT / "i18n" / "zh_CN" / "errata.json"


def row_id(row: dict[str, Any]) -> str:
    """The stable key of a row in the translations: ``<stem>:<correct>`` (a row's recomputed value).

    Examples
    --------
    >>> row_id({"stem": "01_cross_entropy", "correct": "ce_article_example"})
    '01_cross_entropy:ce_article_example'
    """
    return f"{row['stem']}:{row['correct']}"


def load_translations(path: str | Path = TRANSLATIONS_FILE) -> dict[str, dict[str, str]]:
    """The Chinese of each row's ``example``, with the English it was translated from, by :func:`row_id`.

    The file is ``{"language": "zh_CN", "source": "book/errata.json", "entries": [{"id", "en", "zh"}]}``;
    an entry is used only while its ``en`` equals the row's current ``example`` (otherwise the Chinese
    table shows the English, marked as pending, and ``python -m medkit i18n status`` lists it as stale).
    No file: no translations.

    Raises
    ------
    ValueError
        The file is not JSON, an entry lacks a string ``id``/``en``/``zh`` or repeats an id (the message
        names the file and the entry).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    entries = _json_list(path, "entries")
    out: dict[str, dict[str, str]] = {}
    for i, entry in enumerate(entries):
        where = f"{path.name}, entry {i + 1}"
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("id", "en", "zh")):
            raise ValueError(f"{where}: needs string fields 'id', 'en' and 'zh'.")
        if entry["id"] in out:
            raise ValueError(f"{where}: id {entry['id']!r} appears twice.")
        out[entry["id"]] = {"en": entry["en"], "zh": entry["zh"]}
    return out


def translated_example(row: dict[str, Any], translations: dict[str, dict[str, str]]) -> tuple[str, str]:
    """``(state, text)`` of a row's description in Chinese: ``translated``, ``stale`` or ``missing``; the text
    is the Chinese when current, else the English with "（待翻译）" in front.

    Examples
    --------
    >>> row = {"stem": "01_x", "correct": "k", "example": "Accuracy"}
    >>> translated_example(row, {"01_x:k": {"en": "Accuracy", "zh": "准确率"}})
    ('translated', '准确率')
    >>> translated_example(row, {"01_x:k": {"en": "Old", "zh": "旧"}})
    ('stale', '（待翻译）Accuracy')
    """
    entry = translations.get(row_id(row))
    if entry is not None and entry["en"] == row["example"] and entry["zh"].strip():
        return "translated", entry["zh"]
    return ("stale" if entry is not None else "missing"), "（待翻译）" + row["example"]
