"""String normalisation of answers: Hendrycks "mathd", the DeepScaleR/PRM800K sympy-side, and robust."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable
from typing import Any

# --------------------------------------------------------------------------------------------------
# mathd (Hendrycks MATH) normalisation, as described in docs/original-code.md#deepscaler-grader.
# --------------------------------------------------------------------------------------------------

_ENCLOSING_TEXT = re.compile(r"^\\text\{(?P<text>.+?)\}$")


def _mathd_fix_fracs(s: str) -> str:
    # "\frac12" -> "\frac{1}{2}", "\frac1{2}" -> "\frac{1}{2}"; malformed input is returned unchanged.
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{"):
            out += part
            continue
        if len(part) < 2:
            return s
        a, b = part[0], part[1]
        if b != "{":
            out += "{" + a + "}{" + b + "}" + part[2:]
        else:
            out += "{" + a + "}" + b + part[2:]
    return out


def _mathd_fix_slash(s: str) -> str:
    # "3/4" (two integers) -> "\frac{3}{4}"
    pieces = s.split("/")
    if len(pieces) != 2:
        return s
    try:
        a, b = int(pieces[0]), int(pieces[1])
    except ValueError:
        return s
    if s != f"{a}/{b}":
        return s
    return "\\frac{" + str(a) + "}{" + str(b) + "}"


def _mathd_fix_sqrt(s: str) -> str:
    # "\sqrt3" -> "\sqrt{3}"
    if "\\sqrt" not in s:
        return s
    parts = s.split("\\sqrt")
    out = parts[0]
    for part in parts[1:]:
        if part and part[0] != "{":
            out += "\\sqrt{" + part[0] + "}" + part[1:]
        else:
            out += "\\sqrt" + part
    return out


def _mathd_strip(s: str) -> str:
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "")
    if "\\text{ " in s:  # units written as "5\text{ cm}"
        s = s.split("\\text{ ")[0]
    s = s.replace("\\%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:  # "k = 5" -> "5"
        s = sides[1]
    s = _mathd_fix_sqrt(s)
    s = s.replace(" ", "")
    s = _mathd_fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _mathd_fix_slash(s)


# Answers repeat a lot (n rollouts per prompt share a gold; wrong answers cluster), so the pure string
# normalisations are memoised; long strings bypass the caches so a cache never holds megabytes.
CACHE_MAX_CHARS = 512
CACHE_SIZE = 16384
_CACHE_CLEARERS: list[Callable[[], None]] = []


def _memoised(function: Callable[[str], str]) -> Callable[[str], str]:
    cached = functools.lru_cache(maxsize=CACHE_SIZE)(function)

    @functools.wraps(function)
    def wrapper(text: str) -> str:
        return function(text) if len(text) > CACHE_MAX_CHARS else cached(text)

    _CACHE_CLEARERS.append(cached.cache_clear)
    return wrapper


def clear_caches() -> None:
    """Empty the normalisation caches (benchmarks measure cold per-pair cost with it)."""
    for clear in _CACHE_CLEARERS:
        clear()


def mathd_normalize(answer: str | None) -> str | None:
    """Hendrycks MATH normalisation (DeepScaleR's first check is string equality after it)."""
    return None if answer is None else _mathd_normalize(answer)


@_memoised
def _mathd_normalize(answer: str) -> str:
    answer = answer.strip()
    match = _ENCLOSING_TEXT.search(answer)
    if match:
        answer = match.group("text").strip()
    return _mathd_strip(answer)


# --------------------------------------------------------------------------------------------------
# DeepScaleR / PRM800K sympy-side normalisation (docs/original-code.md#deepscaler-grader, the "sympy" check).
# --------------------------------------------------------------------------------------------------

_PRM_UNITS = (
    "degree", "cm", "centimeter", "meter", "mile", "second", "minute", "hour", "day", "week", "month",
    "year", "foot", "feet", "inch", "yard",
)  # fmt: skip
_PRM_UNIT_PATTERNS = tuple(re.compile(f"{unit}(es)?(s)? *(\\^[0-9]+)?") for unit in _PRM_UNITS)
_COMMA_GROUP = re.compile(r"(\d)(,)(\d\d\d)($|\D)")


def strip_thousands_commas(s: str) -> str:
    """ "1,234,567" -> "1234567" (only properly grouped commas)."""
    while True:
        new = _COMMA_GROUP.sub(r"\1\3\4", s)
        if new == s:
            return s
        s = new


def _is_float(s: str) -> bool:
    try:
        float(s)
    except (ValueError, OverflowError):
        return False
    return True


def prm_str_is_int(s: str) -> bool:
    """True for strings like "12", "1,000" or "12.0000000001" (PRM800K's notion of an integer answer)."""
    try:
        value = float(strip_thousands_commas(s))
        return abs(value - int(round(value))) <= 1e-7
    except (ValueError, OverflowError):
        return False


_converters = threading.local()


def _latex_converter() -> tuple[Any, Any, Any]:
    # Building a LatexNodes2Text, or a LatexWalker without a context, rebuilds pylatexenc's macro
    # database (~0.5 ms a call). Parsing only reads that database, so one of each is kept per thread
    # (per thread only to stay clear of any unforeseen shared state).
    cached = getattr(_converters, "cached", None)
    if cached is None:
        from pylatexenc import latex2text, latexwalker  # lazy: only the deepscaler mode needs it

        cached = (
            latex2text.LatexNodes2Text(),
            latexwalker.LatexWalker,
            latexwalker.get_default_latex_context_db(),
        )
        _converters.cached = cached
    return cached


def _latex_to_text(s: str) -> str:
    s = s.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac").replace("\\frac", " \\frac")
    converter, walker, context = _latex_converter()
    # what LatexNodes2Text.latex_to_text does, with the prebuilt default context
    text = converter.nodelist_to_text(walker(s, latex_context=context).get_latex_nodes()[0])
    for old, new in (("√", "sqrt"), ("π", "pi"), ("∞", "inf"), ("∪", "U"), ("·", "*"), ("×", "*")):
        text = text.replace(old, new)
    return text.strip()


def prm_normalize(expr: str | None) -> str | None:
    """The PRM800K normalisation applied before DeepScaleR's sympy comparison."""
    return None if expr is None else _prm_normalize(expr)


@_memoised
def _prm_normalize(expr: str) -> str:
    expr = _prm_before_latex(expr)
    if "\\" in expr:
        with contextlib.suppress(Exception):  # the original ignores any pylatexenc failure
            expr = _latex_to_text(expr)
    return _prm_after_latex(expr)


@_memoised
def _prm_before_latex(expr: str) -> str:
    match = _ENCLOSING_TEXT.search(expr)
    if match:
        expr = match.group("text")
    expr = expr.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    expr = expr.replace(" or ", " , ").replace(" and ", " , ")
    expr = expr.replace("million", "*10^6").replace("billion", "*10^9").replace("trillion", "*10^12")
    for pattern in _PRM_UNIT_PATTERNS:
        expr = pattern.sub("", expr)
    expr = re.sub(r"\^ *\\circ", "", expr)
    if expr and expr[0] == "{" and expr[-1] == "}":
        expr = expr[1:-1]
    expr = re.sub(r",\\! *", "", expr)
    if _is_float(expr) and prm_str_is_int(expr):
        expr = str(int(round(float(expr))))
    return expr


def _prm_after_latex(expr: str) -> str:
    expr = re.sub(r"- *", "-", expr)
    expr = re.sub(r"([0-9]) +([0-9])", r"\1+\2", expr)  # mixed numbers "7 3/4" -> "7+3/4"
    expr = expr.replace(" ", "").replace("{", "").replace("}", "").lower()
    if prm_str_is_int(expr):
        expr = str(int(round(float(strip_thousands_commas(expr)))))
    return expr


# pylatexenc's tolerant parser backtracks exponentially on unclosed arguments ("\frac{" * 8, "\sqrt[" * 10);
# outside a deadline it only gets short strings with balanced braces and few macros (measured: < 60 ms).
_LATEX_MAX_CHARS = 64
_LATEX_MAX_MACROS = 6


def _latex_is_cheap(expr: str) -> bool:
    if len(expr) > _LATEX_MAX_CHARS or expr.count("\\") > _LATEX_MAX_MACROS:
        return False
    depth = 0
    for ch in expr:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def prm_normalize_if_cheap(expr: str) -> str | None:
    """:func:`prm_normalize`, or None where its pylatexenc step could be slow (run that under a deadline)."""
    staged = _prm_before_latex(expr)
    if "\\" in staged and not _latex_is_cheap(staged):
        return None
    return _prm_normalize(expr)


# --------------------------------------------------------------------------------------------------
# Robust normalisation: a canonical LaTeX string that the robust parser reads.
# --------------------------------------------------------------------------------------------------

UNIT_WORDS = frozenset(
    [
        "degree",
        "degrees",
        "deg",
        "cm",
        "centimeter",
        "centimeters",
        "centimetre",
        "centimetres",
        "m",
        "meter",
        "meters",
        "metre",
        "metres",
        "mm",
        "km",
        "kilometer",
        "kilometers",
        "mile",
        "miles",
        "second",
        "seconds",
        "sec",
        "s",
        "minute",
        "minutes",
        "min",
        "hour",
        "hours",
        "hr",
        "hrs",
        "h",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "yr",
        "foot",
        "feet",
        "ft",
        "inch",
        "inches",
        "in",
        "yard",
        "yards",
        "yd",
        "unit",
        "units",
        "sq",
        "square",
        "cubic",
        "dollar",
        "dollars",
        "cent",
        "cents",
        "g",
        "gram",
        "grams",
        "kg",
        "kilogram",
        "kilograms",
        "lb",
        "lbs",
        "pound",
        "pounds",
        "oz",
        "ounce",
        "ounces",
        "l",
        "liter",
        "liters",
        "litre",
        "litres",
        "ml",
        "gallon",
        "gallons",
        "mph",
        "kmh",
        "kph",
        "percent",
        "points",
        "point",
        "ways",
        "people",
        "students",
        "cookies",
        "marbles",
        "times",
        "C",
        "F",
        "eV",
        "keV",
        "MeV",
        "J",
        "W",
        "V",
        "A",
        "K",
        "Hz",
        "nm",
        "pm",
        "um",
        "mum",
        "AA",
        "Angstrom",
        "angstroms",
        "rad",
        "radians",
    ]
)

_SPACING_COMMANDS = (
    "\\!",
    "\\,",
    "\\:",
    "\\;",
    "\\ ",
    "\\quad",
    "\\qquad",
    "~",
    "\\displaystyle",
    "\\limits",
)
_DROP_COMMANDS = ("\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big")
_TEXT_COMMAND = re.compile(
    r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname|mathit|rm)\s*\{([^{}]*)\}"
)
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_GLUED_UNIT = re.compile(r"(-?\d+(?:\.\d+)?)([A-Za-z]{2,})")
# Not inside a list: in "27,54,108,135" the run "108,135" is two items, not 108135.
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?![\d]|,\d)")
# "The answer is 5", "Answer: 5", "so x = 5": a sentence around the answer, not part of it.
_ANSWER_PHRASE = re.compile(
    r"^(?:(?:so|thus|hence|therefore),?\s*)?(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*",
    re.IGNORECASE,
)
_EMPTY_SET = ("\\emptyset", "\\varnothing", "\\{\\}", "\\{ \\}", "∅", "{}")
_REAL_LINE = ("\\mathbb{R}", "\\mathbb R", "\\R", "ℝ", "\\mathbf{R}")
# "x \in [1, 2]" and "x\in\{3\}": the membership names the answer set.
_MEMBERSHIP = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*(?:\\in|∈)\s*(?=\S)")


def _replace_text_commands(s: str) -> str:
    # \text{ cm} after a value is a unit; \text{13} or \text{(B)} is the answer itself.
    def repl(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        words = inner.replace(".", " ").split()
        if words and all(w.strip("^0123456789/") in UNIT_WORDS for w in words) and match.start() > 0:
            return " "
        return " " + inner + " "

    previous = None
    while previous != s:  # nested \text{\textbf{x}} unwraps from the inside out
        previous = s
        s = _TEXT_COMMAND.sub(repl, s)
    return s


def _is_unit_token(token: str) -> bool:
    if token.count("{") != token.count("}"):
        return False  # "C}" closes a group opened earlier: part of the expression, not a unit
    words = [w for w in re.split(r"[/.^{}\-\d*()]+", token) if w]
    return bool(words) and all(w in UNIT_WORDS for w in words)


def _strip_trailing_units(s: str) -> str:
    # Token by token from the right (no backtracking regex: answers can be long adversarial strings).
    tokens = s.split(" ")
    while len(tokens) > 1 and (not tokens[-1] or _is_unit_token(tokens[-1])):
        tokens.pop()
    if len(tokens) == 1:  # "5cm": a unit glued to a number (multi-letter units only)
        glued = _GLUED_UNIT.fullmatch(tokens[0])
        if glued and glued.group(2) in UNIT_WORDS:
            return glued.group(1)
    return " ".join(tokens)


def robust_canonical(answer: str) -> tuple[str, dict[str, bool]]:
    """Canonical LaTeX for ``answer`` plus flags for stripped markers (``percent``, ``degree``).

    The result keeps structure (brackets, commas, ``\\frac``) for the parser; only notation that never
    changes the value is removed.
    """
    s = answer.strip()
    flags = {"percent": False, "degree": False}
    if "\x00" in s:
        s = s.replace("\x00", "")
    s = s.strip("$").strip()
    if s.startswith("\\(") and s.endswith("\\)") or s.startswith("\\[") and s.endswith("\\]"):
        s = s[2:-2].strip()
    # before spacing commands turn "1\,000" into two numbers
    if "(" not in s and "[" not in s and "\\{" not in s:  # "(123,124)" is a pair, not 123124
        s = _THOUSANDS.sub(lambda m: re.sub(r"\{,\}|\\,|,", "", m.group(0)), s)
    for cmd in _DROP_COMMANDS:
        s = s.replace(cmd, "")
    s = s.replace("\\\\", "\x01")  # a row break "\\" must survive the removal of "\ " below
    for cmd in _SPACING_COMMANDS:
        s = s.replace(cmd, " ")
    s = s.replace("\x01", "\\\\")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\neq", "≠")
    # primes: x^{\prime} is x' (a derivative or an arc-second mark after a number, dropped below)
    s = re.sub(r"\^\s*\{?\s*\\prime\s*\\prime\s*\}?", "''", s)
    s = re.sub(r"\^\s*\{?\s*\\prime\s*\}?", "'", s)
    s = re.sub(r"(?<=\d)\s*'{1,2}$", "", s)  # keep inequality from collapsing into an equation
    if "\\%" in s or "%" in s or "percent" in s:
        flags["percent"] = True
        s = s.replace("\\%", "").replace("%", "").replace("percent", "")
    if _DEGREE.search(s):
        flags["degree"] = True
        s = _DEGREE.sub(" ", s)
    s = _replace_text_commands(s)
    s = _ANSWER_PHRASE.sub("", s.strip())
    s = _MEMBERSHIP.sub("", s)
    if s.strip() in _EMPTY_SET:
        s = "∅"
    for name in _REAL_LINE:
        s = s.replace(name, "(-∞,∞)") if s.strip() == name else s
    s = s.replace("\\infty", "∞").replace("\\inf", "∞").replace("infinity", "∞")
    s = _strip_trailing_units(s)
    for word in ("degrees", "degree"):
        if s.endswith(word):
            flags["degree"] = True
            s = s[: -len(word)]
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    return s, flags
