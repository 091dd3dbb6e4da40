"""The language medkit speaks to a reader: English (``"en"``, the default) or Chinese (``"zh"``).

One setting decides the language of everything medkit writes for a reader
while a chapter runs: the labels of its figures (:mod:`medkit.plots`) and the
lines its self-checks print (:mod:`medkit.exercises`). Code, glued values and
file names never change with it.

The setting is, in order of precedence,

1. :func:`set_language` (or the :func:`using_language` context manager), for
   one Python session;
2. the environment variable ``MEDKIT_LANG`` (``en`` or ``zh``). The Chinese
   JupyterLab copies and student versions run on the ``medkit-zh`` kernel,
   whose kernelspec sets ``MEDKIT_LANG=zh``;
3. English.

The book is executed once, in English. For the Chinese edition the book's
runner also sets ``MEDKIT_FIGURE_LANGS=zh``: each figure is then drawn a
second time with Chinese labels from the same figure object, in the same
kernel (no second training run), and the Chinese site shows that drawing
(see :func:`medkit.plots.use_page_style`).

Examples
--------
>>> with using_language("zh"):
...     pick("not done yet", "尚未完成")
'尚未完成'
>>> pick("not done yet", "尚未完成", lang="en")
'not done yet'
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: The languages medkit can speak, by their short code.
LANGUAGES = ("en", "zh")
#: The environment variable that sets the language of a kernel or a process.
ENV_VAR = "MEDKIT_LANG"
#: The environment variable naming extra languages to draw each figure in (the book's runner sets it).
FIGURE_LANGS_VAR = "MEDKIT_FIGURE_LANGS"

_ALIASES = {"en": "en", "en_us": "en", "en_gb": "en", "english": "en",
            "zh": "zh", "zh_cn": "zh", "zh_hans": "zh", "cn": "zh", "chinese": "zh"}
_current: str | None = None


def normalise(lang: str, source: str = "language") -> str:
    """The short code (``"en"`` or ``"zh"``) of a language name such as ``"zh_CN"`` or ``"zh-Hans"``.

    Parameters
    ----------
    lang : str
        A language code; case and ``-``/``_`` do not matter.
    source : str
        Where the value came from, for the error message.

    Returns
    -------
    str
        ``"en"`` or ``"zh"``.

    Raises
    ------
    ValueError
        For any other language, naming ``source`` and the accepted codes.

    Examples
    --------
    >>> normalise("zh-CN"), normalise("EN")
    ('zh', 'en')
    >>> normalise("fr", source="MEDKIT_LANG")
    Traceback (most recent call last):
    ...
    ValueError: MEDKIT_LANG: unknown language 'fr'; medkit speaks 'en' (English) or 'zh' (Chinese)
    """
    key = str(lang).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"{source}: unknown language {lang!r}; medkit speaks 'en' (English) or 'zh' (Chinese)")
    return _ALIASES[key]


def get_language() -> str:
    """The language in effect: :func:`set_language`, else ``MEDKIT_LANG``, else ``"en"``.

    Returns
    -------
    str
        ``"en"`` or ``"zh"``.

    Examples
    --------
    >>> with using_language("en"):
    ...     get_language()
    'en'
    """
    if _current is not None:
        return _current
    env = os.environ.get(ENV_VAR, "").strip()
    return normalise(env, source=f"environment variable {ENV_VAR}") if env else "en"


def set_language(lang: str | None) -> None:
    """Set the language for this Python session; ``None`` goes back to ``MEDKIT_LANG`` or English.

    Parameters
    ----------
    lang : str or None
        ``"en"``, ``"zh"`` (or an alias such as ``"zh_CN"``), or ``None``.

    Examples
    --------
    >>> set_language("zh"); get_language()
    'zh'
    >>> set_language(None)
    """
    global _current
    _current = None if lang is None else normalise(lang)


@contextmanager
def using_language(lang: str) -> Iterator[str]:
    """Speak ``lang`` inside a ``with`` block, then restore the previous setting.

    Examples
    --------
    >>> with using_language("zh_CN") as code:
    ...     code
    'zh'
    """
    global _current
    previous = _current
    _current = normalise(lang)
    try:
        yield _current
    finally:
        _current = previous


def figure_languages() -> tuple[str, ...]:
    """Extra languages each figure is also drawn in (``MEDKIT_FIGURE_LANGS``, comma-separated).

    Returns
    -------
    tuple of str
        Languages other than :func:`get_language`, without repeats; empty by default.

    Examples
    --------
    >>> import os
    >>> os.environ[FIGURE_LANGS_VAR] = "zh"
    >>> with using_language("en"):
    ...     figure_languages()
    ('zh',)
    >>> del os.environ[FIGURE_LANGS_VAR]
    """
    raw = os.environ.get(FIGURE_LANGS_VAR, "")
    current = get_language()
    out: list[str] = []
    for part in raw.split(","):
        if part.strip():
            code = normalise(part, source=f"environment variable {FIGURE_LANGS_VAR}")
            if code != current and code not in out:
                out.append(code)
    return tuple(out)


def pick(en: str, zh: str, lang: str | None = None) -> str:
    """The text in the language in effect (or ``lang``): ``en`` or ``zh``.

    Parameters
    ----------
    en, zh : str
        The same message in English and in Chinese.
    lang : str, optional
        Overrides :func:`get_language`.

    Returns
    -------
    str

    Examples
    --------
    >>> pick("test AUROC", "测试集 AUROC", lang="zh")
    '测试集 AUROC'
    """
    return zh if (normalise(lang) if lang else get_language()) == "zh" else en
