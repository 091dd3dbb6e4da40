"""Hidden checks: what an exercise's hidden-test cell says, and how values cross from a kernel to the grader.

A hidden-test cell (tagged ``hidden-test`` and ``remove-cell``, metadata
``"medkit": {"exercise": ID, "points": P}``) holds only these statements::

    from medkit.classroom.hidden import expect, expect_that, raises

    expect(binary_ce(np.array([1.0, 0.0]), np.array([0.9, 0.2])), atol=1e-6)
    expect_that(binary_ce(np.array([1.0]), np.array([0.0])), lambda v: np.isfinite(v))
    with raises(ValueError):
        average_features([np.zeros(3), np.zeros(2)])

- ``expect(EXPR, atol=..., rtol=...)``: the student's value of ``EXPR`` equals
  the value the *instructor's* solution gives for the same ``EXPR`` (numbers
  and arrays within the tolerances, everything else exactly);
- ``expect_that(EXPR, lambda v: ...)``: the predicate, run by the grader on the
  student's value (as plain data, see :func:`decode`), is true;
- ``with raises(ExceptionType): EXPR``: evaluating ``EXPR`` raises that type
  (or a subclass).

How a cell is used. The grader (:mod:`medkit.classroom.grade`) never runs the cell
anywhere. It parses it (:func:`medkit.classroom.markup.parse_hidden_test`), sends only
the *expressions* to the student's kernel, gets back their values as plain
data (JSON with base64 arrays: no pickle, nothing that can carry code), and
compares them in its own process with the values the instructor notebook
gives in a separate, clean kernel. The expected values, the tolerances and the
predicates never enter the student's kernel, so code that patches builtins or
numpy there can only change the student's own values.

In the instructor notebook (``python -m medkit run``, ``make book``) the cell
runs as written: :func:`expect` checks that the value can be brought out as
plain data, :func:`expect_that` asserts its predicate on that plain data and
:func:`raises` asserts the exception, so CI proves that the solution passes its
own hidden checks.
"""
from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Default tolerances of expect(): relative 1e-7 and absolute 1e-12 (floats computed in another order agree).
DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-12
MIME = "text/x-medkit-values"  # the display-data type the probe answers with
MAX_PAYLOAD = 64 * 2**20  # characters of one probe's answer; more is refused (a hostile kernel can send anything)
MAX_DEPTH = 32
_NUMERIC_KINDS = "biufc"  # bool, int, unsigned, float, complex: the only array dtypes that cross


class ValueTransportError(ValueError):
    """A value cannot be brought out of a kernel as plain data (or what came out is not plain data)."""


# ---------------------------------------------------------------- the codec
def encode(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data; raises :class:`ValueTransportError` for anything else.

    Supported: ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, lists
    and tuples, dicts with string keys, numpy scalars and numpy arrays of a
    numeric or boolean dtype. Arrays travel as raw little-endian bytes (base64).

    Examples
    --------
    >>> encode({"p": (0.5, float("inf")), "n": 3})
    {'__dict__': [['p', [0.5, {'__float__': 'inf'}]], ['n', 3]]}
    >>> decode(encode(np.arange(3)))
    array([0, 1, 2])
    """
    if _depth > MAX_DEPTH:
        raise ValueTransportError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [encode(value.real), encode(value.imag)]}
    if isinstance(value, (np.generic, np.ndarray)):
        array = np.asarray(value)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise ValueTransportError(f"a numpy array of dtype {array.dtype} (only numbers and booleans cross)")
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        data = base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")
        return {"__ndarray__": {"dtype": little.dtype.str, "shape": list(array.shape), "data": data,
                                "scalar": isinstance(value, np.generic)}}
    if isinstance(value, (list, tuple)):
        return [encode(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueTransportError(f"a dict key of type {type(key).__name__} (only str keys cross)")
            items.append([key, encode(item, _depth + 1)])
        return {"__dict__": items}
    raise ValueTransportError(f"a value of type {type(value).__name__} (only numbers, strings, lists, dicts "
                              "and numeric numpy arrays cross)")


def decode(data: Any, _depth: int = 0) -> Any:
    """Plain data written by :func:`encode` back into Python and numpy values; validates everything.

    Raises
    ------
    ValueTransportError
        Anything :func:`encode` does not write (an unknown tag, a dtype that is
        not numeric, bytes that do not fit the shape).
    """
    if _depth > MAX_DEPTH:
        raise ValueTransportError(f"nested deeper than {MAX_DEPTH} levels")
    if data is None or isinstance(data, (bool, str, int)):
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise ValueTransportError("a bare non-finite number")
        return data
    if isinstance(data, list):
        return [decode(v, _depth + 1) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueTransportError(f"unexpected {type(data).__name__}")
    (tag, body), = data.items()
    if tag == "__float__":
        if body not in ("nan", "inf", "-inf"):
            raise ValueTransportError(f"bad float {body!r}")
        return float(body)
    if tag == "__complex__":
        if not isinstance(body, list) or len(body) != 2:
            raise ValueTransportError("bad complex")
        re_, im = (decode(v, _depth + 1) for v in body)
        if not all(isinstance(v, float) for v in (re_, im)):
            raise ValueTransportError("bad complex")
        return complex(re_, im)
    if tag == "__dict__":
        if not isinstance(body, list):
            raise ValueTransportError("bad dict")
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueTransportError("bad dict item")
            out[item[0]] = decode(item[1], _depth + 1)
        return out
    if tag == "__ndarray__":
        return _decode_array(body)
    if tag == "__raised__":
        if not (isinstance(body, dict) and isinstance(body.get("type"), str) and isinstance(body.get("mro"), list)
                and all(isinstance(n, str) for n in body["mro"]) and isinstance(body.get("message", ""), str)):
            raise ValueTransportError("bad exception record")
        return Raised(body["type"], tuple(body["mro"]), body.get("message", ""))
    raise ValueTransportError(f"unknown tag {tag!r}")


def _decode_array(body: Any) -> np.ndarray | np.generic:
    if not isinstance(body, dict) or set(body) != {"dtype", "shape", "data", "scalar"}:
        raise ValueTransportError("bad array record")
    try:
        dtype = np.dtype(body["dtype"])
    except (TypeError, ValueError):
        raise ValueTransportError(f"bad dtype {body['dtype']!r}") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ValueTransportError(f"dtype {dtype} does not cross")
    shape = body["shape"]
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                            for n in shape)) or len(shape) > 32:
        raise ValueTransportError("bad shape")
    if not isinstance(body["data"], str):
        raise ValueTransportError("bad array data")
    try:
        raw = base64.b64decode(body["data"].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValueTransportError("array data is not base64") from None
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise ValueTransportError("array data does not fit its shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if body["scalar"] is True and array.ndim == 0:
        return array[()]
    return array


@dataclass(frozen=True)
class Raised:
    """An expression raised instead of returning: the exception's type, its class names (MRO) and message."""

    type: str
    mro: tuple[str, ...]
    message: str = ""


def raised(exc: BaseException) -> dict:
    """The plain-data record of an exception (its class names, not the object)."""
    return {"__raised__": {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                           "message": str(exc)[:500]}}


def dumps(values: list[Any]) -> str:
    """The JSON text a probe sends: a list of encoded values (``NaN`` and ``Infinity`` are refused)."""
    return json.dumps(values, allow_nan=False, separators=(",", ":"))


def loads(text: Any) -> list[Any]:
    """Parse and validate a probe's answer (any text at all) into decoded values; raises ValueTransportError."""
    if not isinstance(text, str):
        raise ValueTransportError("the answer is not text")
    if len(text) > MAX_PAYLOAD:
        raise ValueTransportError(f"the answer is larger than {MAX_PAYLOAD // 2**20} MiB")

    def no_constants(name: str) -> None:
        raise ValueTransportError(f"bare {name} in JSON")

    try:
        data = json.loads(text, parse_constant=no_constants)
    except (json.JSONDecodeError, RecursionError):
        raise ValueTransportError("the answer is not valid JSON") from None
    if not isinstance(data, list):
        raise ValueTransportError("the answer is not a list")
    return [decode(v) for v in data]


def roundtrip(value: Any) -> Any:
    """What the grader receives for ``value``: ``decode(encode(value))`` through JSON text."""
    return loads(dumps([encode(value)]))[0]


# ---------------------------------------------------------------- comparing (in the grader's process)
def compare(student: Any, expected: Any, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> str:
    """``""`` when ``student`` matches ``expected`` (both decoded plain data), else why not (safe to show).

    Numbers, numeric lists and arrays compare by value and shape within ``atol + rtol * |expected|``
    (NaN matches NaN; a list and an array of the same numbers match); a bool must be a bool;
    strings, ``None`` and dict keys compare exactly. The reason names the kind of difference
    (value, shape, type), never the expected value.

    Examples
    --------
    >>> compare([0.3, 0.4], np.array([0.3, 0.4 + 1e-12]))
    ''
    >>> compare(0.5, 0.25)
    'wrong value'
    >>> compare(np.zeros(3), np.zeros(2))
    'wrong shape (3,)'
    """
    if isinstance(student, Raised):
        return f"raised {student.type}"
    if isinstance(expected, Raised):  # the reference raising is refused when the references are computed
        return "wrong outcome"
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(student, (bool, np.bool_)):
            return f"wrong type ({_kind(student)} where a boolean is expected)"
        return "" if bool(student) == bool(expected) else "wrong value"
    if expected is None or isinstance(expected, str):
        if type(student) is not type(expected):
            return f"wrong type ({_kind(student)} where {_kind(expected)} is expected)"
        return "" if student == expected else "wrong value"
    if isinstance(expected, dict):
        if not isinstance(student, dict):
            return f"wrong type ({_kind(student)} where a dict is expected)"
        if set(student) != set(expected):
            return "wrong keys"
        for key in expected:
            why = compare(student[key], expected[key], atol=atol, rtol=rtol)
            if why:
                return f"{why} at key {key!r}"
        return ""
    exp_num, stu_num = _numeric(expected), _numeric(student)
    if exp_num is not None:
        if stu_num is None:
            return f"wrong type ({_kind(student)} where numbers are expected)"
        if stu_num.shape != exp_num.shape:
            return f"wrong shape {stu_num.shape}"
        if exp_num.dtype.kind in "iub" and stu_num.dtype.kind in "iub":
            return "" if np.array_equal(stu_num, exp_num) else "wrong value"
        with np.errstate(all="ignore"):
            ok = np.allclose(stu_num.astype(complex if "c" in (stu_num.dtype.kind + exp_num.dtype.kind) else float),
                             exp_num, atol=atol, rtol=rtol, equal_nan=True)
        return "" if ok else "wrong value"
    if isinstance(expected, (list, tuple)):
        if not isinstance(student, (list, tuple)):
            return f"wrong type ({_kind(student)} where a list is expected)"
        if len(student) != len(expected):
            return f"wrong length {len(student)}"
        for k, (s, e) in enumerate(zip(student, expected, strict=True)):
            why = compare(s, e, atol=atol, rtol=rtol)
            if why:
                return f"{why} at item {k}"
        return ""
    return "wrong value"


def _numeric(value: Any) -> np.ndarray | None:
    """A number, a numeric array or a (nested) list of numbers as an array; ``None`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return np.asarray(value, dtype=np.int64)
        except OverflowError:
            return np.asarray(float(value))
    if isinstance(value, (bool, float, complex, np.generic, np.ndarray)):
        array = np.asarray(value)
        return array if array.dtype.kind in _NUMERIC_KINDS else None
    if isinstance(value, (list, tuple)) and _all_numbers(value):
        try:
            array = np.asarray(value)
        except (ValueError, OverflowError):
            return None
        return array if array.dtype.kind in _NUMERIC_KINDS else None
    return None


def _all_numbers(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, (list, tuple)):
        return all(_all_numbers(v, depth + 1) for v in value)
    return isinstance(value, (int, float, complex, np.number, np.bool_, np.ndarray)) and not isinstance(value, str)


def _kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "a boolean"
    if value is None:
        return "None"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, np.ndarray):
        return "an array"
    return "a number"


def check_raised(student: Any, exception: str) -> str:
    """``""`` when ``student`` is a :class:`Raised` of class ``exception`` or a subclass, else why not."""
    if isinstance(student, Raised):
        return "" if exception in student.mro else f"raised {student.type} instead of {exception}"
    return f"did not raise {exception}"


def check_predicate(student: Any, predicate: Callable[[Any], Any]) -> str:
    """``""`` when ``predicate(student)`` is true; a predicate that raises on the value counts as false."""
    if isinstance(student, Raised):
        return f"raised {student.type}"
    try:
        with np.errstate(all="ignore"):
            ok = predicate(student)
        ok = bool(np.all(ok)) if isinstance(ok, np.ndarray) else bool(ok)
    except Exception:  # noqa: BLE001 - a value of the wrong kind makes the predicate fail, not the grader
        return "a required property does not hold (the value has an unexpected form)"
    return "" if ok else "a required property does not hold"


# ---------------------------------------------------------------- in the student's kernel
def probe(expressions: list[str]) -> None:
    """Evaluate ``expressions`` in the IPython user namespace and display their encoded values.

    This is what the grader runs in a student's kernel, one call per hidden-test
    cell: it receives expressions only. An expression that raises gives a
    :func:`raised` record; a value that cannot cross gives a ``ValueTransportError``
    record. ``KeyboardInterrupt`` (the grader's timeout) is not caught.
    """
    from IPython import get_ipython
    from IPython.display import display

    namespace = get_ipython().user_ns
    values = []
    for source in expressions:
        try:
            value = eval(compile(source, "<hidden test>", "eval"), namespace)  # noqa: S307 - the student's own code
            values.append(encode(value))
        except Exception as exc:  # noqa: BLE001 - every failure is a result to report
            values.append(raised(exc))
    display({MIME: dumps(values)}, raw=True)


def probe_source(expressions: list[str]) -> str:
    """The code the grader sends to a kernel for one hidden-test cell: the expressions and nothing else.

    Examples
    --------
    >>> print(probe_source(["answer"]))
    __import__("medkit.classroom.hidden", fromlist=["probe"]).probe(["answer"])
    """
    return f'__import__("medkit.classroom.hidden", fromlist=["probe"]).probe({json.dumps(expressions)})'


# ---------------------------------------------------------------- in the instructor notebook
def expect(value: Any, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> None:
    """Hidden check: the student's value equals the instructor's (see the module docstring).

    Run in the instructor notebook, it checks that ``value`` can be brought out of a
    kernel as plain data and that the tolerances are valid; the grader never calls it.

    Examples
    --------
    >>> expect(np.array([0.5, 1.0]), atol=1e-6)
    >>> expect(object())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    medkit.classroom.hidden.ValueTransportError: a value of type object (only numbers, strings, ...
    """
    _check_tolerances(atol, rtol)
    roundtrip(value)


def expect_that(value: Any, predicate: Callable[[Any], Any]) -> None:
    """Hidden check: ``predicate`` holds for the student's value, given as plain data.

    Run in the instructor notebook, it asserts the predicate on the instructor's
    value as the grader will see it (after :func:`roundtrip`).

    Examples
    --------
    >>> expect_that((1.0, 2.0), lambda v: len(v) == 2 and v[0] < v[1])
    """
    why = check_predicate(roundtrip(value), predicate)
    if why:
        raise AssertionError(f"expect_that: {why} for the instructor's value")


class raises:  # noqa: N801 - reads like pytest.raises in a hidden-test cell
    """Hidden check: the body of ``with raises(ExceptionType):`` raises that type (or a subclass).

    Examples
    --------
    >>> with raises(ValueError):
    ...     int("not a number")
    """

    def __init__(self, exception: type[BaseException]) -> None:
        if not (isinstance(exception, type) and issubclass(exception, Exception)):
            raise TypeError(f"raises() needs an exception class, got {exception!r}")
        self.exception = exception

    def __enter__(self) -> "raises":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            raise AssertionError(f"did not raise {self.exception.__name__}")
        return issubclass(exc_type, self.exception)


def _check_tolerances(atol: Any, rtol: Any) -> None:
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0 or not math.isfinite(tol):
            raise ValueError(f"{name} must be a finite number >= 0, got {tol!r}")
