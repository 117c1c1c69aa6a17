"""The original release's grader decisions (DeepScaleR = mathd string match, then PRM800K sympy equality).

Reproduced case for case from the behaviour in docs/original-code.md#deepscaler-grader, including its misses (integer
golds are strict, unreduced fractions are rejected, ``\\fbox`` is a format error). Sympy work must run in
a deadline-bounded worker (``timeout.py``); the original had no timeout at all.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal
from typing import Any

from dissect_lrm.reward import normalize
from dissect_lrm.reward.normalize import (
    CACHE_MAX_CHARS,
    CACHE_SIZE,
    mathd_normalize,
    prm_normalize,
    prm_normalize_if_cheap,
    prm_str_is_int,
    strip_thousands_commas,
)

_BAD_SUBSTRINGS = ("^{", "^(")
_BAD_PATTERNS = (re.compile(r"\^[0-9]+\^"), re.compile(r"\^[0-9][0-9]+"))
_FRACTION = re.compile(r"^-?[0-9]+.?/0*[1-9][0-9]*.?$")


def deepscaler_extract(response: str) -> str | None:
    """The original extraction: text between the first and second ``</think>``, last ``\\boxed{..}``.

    Note: ``\\fbox{..}`` and ``\\boxed 5`` are found but then rejected (format error), as in the original.
    """
    if "</think>" not in response:
        return None
    solution = response.split("</think>")[1]
    return _boxed_content(solution)


def _boxed_content(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    depth = 0
    end = -1
    for i in range(start, len(text)):  # the original counts every brace, escaped or not
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                end = i
                break
    if end < 0:
        return None
    boxed = text[start : end + 1]
    prefix = "\\boxed{"
    if not boxed.startswith(prefix) or not boxed.endswith("}"):
        return None
    return boxed[len(prefix) : -1]


def mathd_equal(gold: str, pred: str) -> bool:
    """The first check: equal after Hendrycks normalisation."""
    return mathd_normalize(gold) == mathd_normalize(pred)


def clear_caches() -> None:
    """Empty this module's and the normalisation caches (benchmarks measure cold per-pair cost)."""
    _sympy_zero_cached.cache_clear()
    normalize.clear_caches()


def _split_tuple(expr: str) -> list[str]:
    expr = strip_thousands_commas(expr)
    if not expr:
        return []
    if len(expr) > 2 and expr[0] in "([" and expr[-1] in ")]" and all(ch not in expr[1:-1] for ch in "()[]"):
        return [element.strip() for element in expr[1:-1].split(",")]
    return [expr]


def _should_allow_eval(expr: str) -> bool:
    # The original's guard against expensive sympy work: few unknown letters and no big powers.
    letters = {ch for ch in expr.replace("sqrt", "").replace("frac", "") if ch.isalpha()}
    if len(letters) > 2:
        return False
    if any(bad in expr for bad in _BAD_SUBSTRINGS):
        return False
    return not any(pattern.search(expr) for pattern in _BAD_PATTERNS)


# ---------------------------------------------------------------------------------------------------
# Fast paths. Each one either gives the decision the original's ``simplify(gold - pred) == 0`` would
# give or falls through to it; ``fast=False`` runs the original path alone (the reference in tests).
# ---------------------------------------------------------------------------------------------------

# Plain decimal numerals that sympy's parser turns into Integer/Float(dps=15) exactly. Leading zeros are
# excluded (Python's tokenizer splits "025" into two numbers) and so are more than 15 digits (beyond
# DBL_DIG, two distinct decimals can round to the same 53-bit Float).
_NUMERAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_MAX_NUMERAL_DIGITS = 15
_TRANSFORMATIONS: tuple | None = None


def _numeral_verdict(gold: str, pred: str) -> bool | None:
    """Decide ``(gold)-(pred) == 0`` for two plain numerals without sympy (the most common wrong answer)."""
    if not (_NUMERAL.fullmatch(gold) and _NUMERAL.fullmatch(pred)):
        return None
    if max(sum(ch.isdigit() for ch in gold), sum(ch.isdigit() for ch in pred)) > _MAX_NUMERAL_DIGITS:
        return None
    # Integer and Float(dps=15) values of <= 15-digit decimals are equal exactly when the decimals are.
    return Decimal(gold) == Decimal(pred)


def _parse_difference(expr: str) -> Any:
    global _TRANSFORMATIONS
    from sympy.parsing import sympy_parser

    if _TRANSFORMATIONS is None:
        _TRANSFORMATIONS = sympy_parser.standard_transformations + (
            sympy_parser.implicit_multiplication_application,
        )
    return sympy_parser.parse_expr(expr.replace("^", "**"), transformations=_TRANSFORMATIONS)


def _simplifies_to_zero(difference: Any) -> bool:
    import sympy

    return bool(sympy.simplify(difference) == 0)


def _evaluable(difference: Any) -> bool:
    # Only elementary trees: evalf of anything else (sums, integrals, unknown functions) may be slow.
    import sympy

    allowed = (
        sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Number, sympy.NumberSymbol,
        sympy.core.numbers.ImaginaryUnit, sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan,
        sympy.cot, sympy.sec, sympy.csc, sympy.asin, sympy.acos, sympy.atan, sympy.sinh, sympy.cosh,
        sympy.tanh, sympy.Abs,
    )  # fmt: skip
    return all(isinstance(node, allowed) for node in sympy.preorder_traversal(difference))


_NONZERO = 1e-8  # far above evalf's error at 30 digits, far below any difference of written answers


def _numerically_nonzero(difference: Any) -> bool:
    """True when ``difference`` is clearly non-zero at one point, so ``simplify`` cannot make it 0.

    simplify preserves values, so a tree that is non-zero where it is defined never simplifies to 0.
    A value near 0 proves nothing (simplify might still fail to reach 0): the caller then runs simplify.
    """
    import sympy

    if not isinstance(difference, sympy.Expr) or not difference.args or not _evaluable(difference):
        return False
    symbols = sorted(difference.free_symbols, key=str)
    # positive irrational-looking rationals keep clear of branch cuts and of removable singularities
    point = {symbol: sympy.Rational(71 + 13 * k, 53 + 7 * k) for k, symbol in enumerate(symbols)}
    value = difference.evalf(30, subs=point)
    if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return False
    try:
        magnitude = abs(complex(value))
    except (TypeError, ValueError):
        return False
    return math.isfinite(magnitude) and magnitude > _NONZERO


def _sympy_zero_reference(expr: str) -> bool:
    """The original: parse, ``simplify(difference) == 0``; any failure means "not equal"."""
    try:
        return _simplifies_to_zero(_parse_difference(expr))
    except Exception:
        return False


def _sympy_zero_fast(expr: str) -> bool:
    try:
        difference = _parse_difference(expr)
    except Exception:  # as in the original: a parse failure means "not equal"
        return False
    try:
        if _numerically_nonzero(difference):
            return False
    except Exception:  # the shortcut could not decide; the original path below does
        pass
    try:
        return _simplifies_to_zero(difference)
    except Exception:
        return False


_sympy_zero_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_sympy_zero_fast)


def _element_verdict(gold: str, pred: str, sympy_mode: str) -> bool | str:
    """One tuple element; ``sympy_mode`` is "reference", "fast" or "none".

    In "none" mode the difference that still needs sympy is returned instead of a decision.
    """
    if _FRACTION.match(gold) and _FRACTION.match(pred):
        return gold == pred  # unreduced fractions are rejected on purpose
    if prm_str_is_int(gold) != prm_str_is_int(pred):
        return False
    expr = f"({gold})-({pred})"
    if not _should_allow_eval(expr):
        return False
    if sympy_mode == "reference":
        return _sympy_zero_reference(expr)
    verdict = _numeral_verdict(gold, pred)
    if verdict is not None:
        return verdict
    return expr if sympy_mode == "none" else _difference_is_zero(expr)


def _difference_is_zero(expr: str) -> bool:
    return _sympy_zero_cached(expr) if len(expr) <= CACHE_MAX_CHARS else _sympy_zero_fast(expr)


def _sympy_verdict(gold: str, pred: str, sympy_mode: str) -> bool | tuple[str, ...] | None:
    """The sympy-side decision; in "none" mode, a tuple of differences that must all simplify to 0,
    or None when normalising could itself be slow (then everything runs in a worker)."""
    if sympy_mode == "none":
        gold_norm, pred_norm = prm_normalize_if_cheap(gold), prm_normalize_if_cheap(pred)
        if gold_norm is None or pred_norm is None:
            return None
    else:
        gold_norm, pred_norm = prm_normalize(gold), prm_normalize(pred)
    if gold_norm is None or pred_norm is None:
        return False
    if gold_norm == pred_norm:
        return True
    if not pred_norm:
        return False
    gold_elements, pred_elements = _split_tuple(gold_norm), _split_tuple(pred_norm)
    if len(gold_elements) > 1 and (gold_norm[0] != pred_norm[0] or gold_norm[-1] != pred_norm[-1]):
        return False
    if len(gold_elements) != len(pred_elements):
        return False
    pending = []
    for gold_element, pred_element in zip(gold_elements, pred_elements):
        verdict = _element_verdict(gold_element, pred_element, sympy_mode)
        if verdict is False:  # every element must match, so one miss decides
            return False
        if isinstance(verdict, str):
            pending.append(verdict)
    return tuple(pending) if pending else True


def sympy_equal(gold: str, pred: str, fast: bool = True) -> bool:
    """The second check: PRM800K normalisation, tuple split, then sympy ``simplify(gt - pred) == 0``.

    ``fast`` adds shortcuts with the same decisions (numerals compared exactly, clearly non-zero
    differences found numerically, results cached); ``fast=False`` runs only the original path.
    """
    return _sympy_verdict(gold, pred, "fast" if fast else "reference") is True


def ground_truths(ground_truth: object) -> list[str]:
    """The original's list of accepted answers: scalars become one string, boxed golds are unboxed."""
    items = ground_truth if isinstance(ground_truth, (list, tuple)) else [ground_truth]
    out = []
    for item in items:
        text = str(item)
        if "\\boxed" in text:
            boxed = _boxed_content(text)
            if boxed is not None:
                out.append(boxed)
        else:
            out.append(text)
    return out


def deepscaler_equal(gold: str | list[str], pred: str, fast: bool = True) -> bool:
    """The original decision for an extracted answer against one or several ground truths."""
    golds = ground_truths(gold)
    return any(mathd_equal(item, pred) or sympy_equal(item, pred, fast) for item in golds)


# The in-process triage runs without a deadline: only short strings (pylatexenc has its own guard).
QUICK_MAX_CHARS = 256


# Per ground truth still undecided: the differences that must all simplify to 0 for it to match.
Pending = tuple[tuple[str, ...], ...]


def deepscaler_triage(gold: str | list[str], pred: str) -> bool | Pending | None:
    """Everything short of sympy, in-process: a decision, the sympy work left (:data:`Pending`, for
    :func:`pending_equal` in a worker), or None for strings too long to normalise without a deadline.

    Decides mathd matches, normalised-string matches, shape mismatches and plain-number comparisons.
    """
    golds = ground_truths(gold)
    if any(mathd_equal(item, pred) for item in golds):
        return True
    if len(pred) > QUICK_MAX_CHARS or any(len(item) > QUICK_MAX_CHARS for item in golds):
        return None
    pending = []
    for item in golds:
        verdict = _sympy_verdict(item, pred, "none")
        if verdict is True:
            return True
        if verdict is None:
            return None
        if verdict is not False:
            pending.append(verdict)
    return tuple(pending) if pending else False


def pending_equal(pending: Pending) -> bool:
    """Finish a :func:`deepscaler_triage`: some ground truth whose differences all simplify to 0."""
    return any(all(_difference_is_zero(expr) for expr in group) for group in pending)


def deepscaler_quick(gold: str | list[str], pred: str) -> bool | None:
    """The decision when no sympy work is needed, else None ("run :func:`deepscaler_equal` in a worker")."""
    verdict = deepscaler_triage(gold, pred)
    return verdict if isinstance(verdict, bool) else None
