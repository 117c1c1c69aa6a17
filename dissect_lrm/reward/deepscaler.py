"""The original release's grader decisions (DeepScaleR = mathd string match, then PRM800K sympy equality).

Reproduced case for case from the behaviour in original-release.md §6.2, including its misses (integer
golds are strict, unreduced fractions are rejected, ``\\fbox`` is a format error). Sympy work must run in
a deadline-bounded worker (``timeout.py``); the original had no timeout at all.
"""

from __future__ import annotations

import re

from dissect_lrm.reward.normalize import (
    mathd_normalize,
    prm_normalize,
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


def _sympy_zero(gold: str, pred: str) -> bool:
    expr = f"({gold})-({pred})"
    if not _should_allow_eval(expr):
        return False
    try:
        import sympy
        from sympy.parsing import sympy_parser

        transformations = sympy_parser.standard_transformations + (
            sympy_parser.implicit_multiplication_application,
        )
        difference = sympy_parser.parse_expr(expr.replace("^", "**"), transformations=transformations)
        return bool(sympy.simplify(difference) == 0)
    except Exception:  # the original treats any parse/simplify failure as "not equal"
        return False


def sympy_equal(gold: str, pred: str) -> bool:
    """The second check: PRM800K normalisation, tuple split, then sympy ``simplify(gt - pred) == 0``."""
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
    for gold_element, pred_element in zip(gold_elements, pred_elements):
        if _FRACTION.match(gold_element) and _FRACTION.match(pred_element):
            equal = gold_element == pred_element  # unreduced fractions are rejected on purpose
        elif prm_str_is_int(gold_element) != prm_str_is_int(pred_element):
            equal = False
        else:
            equal = _sympy_zero(gold_element, pred_element)
        if not equal:
            return False
    return True


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


def deepscaler_equal(gold: str | list[str], pred: str) -> bool:
    """The original decision for an extracted answer against one or several ground truths."""
    golds = ground_truths(gold)
    return any(mathd_equal(item, pred) or sympy_equal(item, pred) for item in golds)


def deepscaler_quick(gold: str | list[str], pred: str) -> bool | None:
    """True when the cheap mathd check accepts; None means "run :func:`deepscaler_equal` in a worker"."""
    golds = ground_truths(gold)
    if any(mathd_equal(item, pred) for item in golds):
        return True
    return None
