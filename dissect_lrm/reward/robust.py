"""The robust (default) equivalence of two math answers: structure, exact/numeric checks, then sympy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from dissect_lrm.reward.huge import huge_equal
from dissect_lrm.reward.latex_expr import (
    Node,
    NotExact,
    NotNumeric,
    NumericOverflow,
    ParseError,
    TooLarge,
    exact_value,
    free_symbols,
    numeric_value,
    parse_latex,
    sample_points,
    to_sympy,
)
from dissect_lrm.reward.normalize import robust_canonical

REL_TOL = 1e-9  # numeric identity test tolerance (values are compared exactly whenever possible)


# Longer answers are compared as text: no expression worth parsing is this long (the extraction refuses
# answers over 2000 characters), and the normalising regexes then cost milliseconds.
MAX_PARSE_CHARS = 4096


class NeedSympy(Exception):
    """The cheap checks cannot decide; the pair must be graded by sympy in a worker."""


@dataclass(frozen=True)
class Answer:
    """A parsed answer: kind is scalar, text, eq, seq (bracketed), list, set, union or matrix."""

    kind: str
    node: Node | None = None  # scalar
    text: str = ""  # text (lower-cased, spaces removed) and the bracket pair of a seq
    items: tuple[Answer, ...] = ()
    flags: tuple[str, ...] = ()


_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$", re.S)
_MIXED_FRAC = re.compile(r"^(-?)(\d+)\s*\\frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))$")
_MIXED_SLASH = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
_REPEATING = re.compile(r"^(-?)(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(\d{1,20})\}?$")
_OPENERS, _CLOSERS = "([{", ")]}"


def _split_top(s: str, separators: tuple[str, ...]) -> list[str]:
    """Split on separators outside any bracket (bracket kinds may differ: half-open intervals)."""
    if not any(sep in s for sep in separators):  # the common case, and linear on 100k-digit numbers
        return [s]
    parts, depth, start, i, n = [], 0, 0, 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and s.startswith(("\\{", "\\}"), i):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
        elif depth == 0:
            for sep in separators:
                if s.startswith(sep, i):
                    parts.append(s[start:i])
                    start = i + len(sep)
                    i = start - 1
                    break
        i += 1
    parts.append(s[start:])
    return parts


def _outer_group(s: str) -> bool:
    """True when the bracket at s[0] closes at s[-1] (so "(1,2)" but not "(1)+(2)")."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def _scalar(s: str, flags: tuple[str, ...]) -> Answer:
    s = s.strip()
    mixed = _MIXED_FRAC.match(s) or _MIXED_SLASH.match(s)
    if mixed:  # 7 3/4 and 7\frac{3}{4} are mixed numbers, not products
        sign, whole, *rest = mixed.groups()
        num, den = [group for group in rest if group is not None]
        s = f"{sign}({whole}+{num}/{den})"
    s = re.sub(r"(\d)\s+(?=\d)", r"\1", s) if re.fullmatch(r"[\d\s.]+", s) else s  # "1 000 000"
    repeating = _REPEATING.match(s)
    if repeating:  # 0.1\overline{6} = 1/6
        s = _repeating_fraction(*repeating.groups())
    try:
        return Answer("scalar", node=parse_latex(s), text=s, flags=flags)
    except (ParseError, RecursionError):
        return Answer("text", text=_text_key(s), flags=flags)


_LESS = r"(<|\\leq?|\\leqslant|≤)"
_ONE_SIDED = re.compile(r"^([A-Za-z])\s*(<|>|\\[lg]eq?|\\[lg]eqslant|≤|≥)\s*([^<>=≤≥]+)$")
_TWO_SIDED = re.compile(rf"^([^<>=≤≥]+?)\s*{_LESS}\s*[A-Za-z]\s*{_LESS}\s*([^<>=≤≥]+)$")


def _inequality_as_interval(s: str) -> str:
    """ "x < 3" is the interval (-∞, 3); "1 \\le x < 2" is [1, 2). Other text is returned unchanged."""
    one = _ONE_SIDED.match(s)
    if one:
        relation, bound = one.group(2), one.group(3).strip()
        strict = relation in ("<", ">")
        if relation in ("<", "≤") or relation.startswith("\\l"):
            return f"(-∞, {bound}{')' if strict else ']'}"
        return f"{'(' if strict else '['}{bound}, ∞)"
    two = _TWO_SIDED.match(s)
    if two:
        low, left, right, high = two.group(1).strip(), two.group(2), two.group(3), two.group(4).strip()
        return f"{'(' if left == '<' else '['}{low}, {high}{')' if right == '<' else ']'}"
    return s


def _repeating_fraction(sign: str, whole: str, fixed: str, period: str) -> str:
    value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    return f"{sign}({value.numerator}/{value.denominator})"


def _text_key(s: str) -> str:
    s = s.lower().replace(" ", "").replace("{", "").replace("}", "").replace("\\", "")
    if len(s) == 3 and s[0] == "(" and s[2] == ")":  # "(b)" -> "b"
        s = s[1]
    return s


def parse_answer(raw: str, _depth: int = 0) -> Answer:
    """Parse an answer string into an :class:`Answer` (never raises on any string)."""
    if len(raw) > MAX_PARSE_CHARS:  # a 100k-digit numeral: compared as text, in linear time
        return Answer("text", text=_text_key(raw.strip()))
    s, flag_map = robust_canonical(raw) if _depth == 0 else (raw.strip(), {})
    flags = tuple(sorted(k for k, v in flag_map.items() if v))
    if _depth > 8 or not s:
        return Answer("text", text=_text_key(s), flags=flags)
    matrix = _MATRIX.match(s)
    if matrix:
        rows = [row for row in matrix.group(2).split("\\\\") if row.strip()]
        cells = tuple(Answer("list", items=tuple(_scalar(c, ()) for c in row.split("&"))) for row in rows)
        return Answer("matrix", items=cells, flags=flags)
    for words in ((" or ", "\\text{or}", " and "),):
        parts = _split_top(s, words)
        if len(parts) > 1:
            return Answer(
                "list", items=tuple(parse_answer(p, _depth + 1) for p in parts if p.strip()), flags=flags
            )
    parts = _split_top(s, ("\\cup", "∪"))
    if len(parts) > 1:
        return Answer("union", items=tuple(parse_answer(p, _depth + 1) for p in parts), flags=flags)
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        return Answer("set", items=tuple(parse_answer(p, _depth + 1) for p in _split_top(inner, (",", ";"))))
    parts = _split_top(s, (",", ";"))
    if len(parts) > 1:
        return Answer(
            "list", items=tuple(parse_answer(p, _depth + 1) for p in parts if p.strip()), flags=flags
        )
    if "<" in s or ">" in s or "\\le" in s or "\\ge" in s or "≤" in s or "≥" in s:
        s = _inequality_as_interval(s)
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _outer_group(s):
        inner_parts = _split_top(s[1:-1], (",",))
        if len(inner_parts) > 1:
            items = tuple(parse_answer(p, _depth + 1) for p in inner_parts)
            return Answer("seq", text=s[0] + s[-1], items=items, flags=flags)
    sides = _split_top(s, ("=",))
    if len(sides) == 2:
        return Answer("eq", items=(_scalar(sides[0], ()), _scalar(sides[1], ())), flags=flags)
    if len(sides) > 2:  # "2+3=5": the value is the last member
        return _scalar(sides[-1], flags)
    return _scalar(s, flags)


# ---------------------------------------------------------------- equivalence


def _candidates(answer: Answer) -> list[Node]:
    # A percentage or an angle in degrees may also stand for the ratio or the radian measure.
    assert answer.node is not None
    nodes = [answer.node]
    if "percent" in answer.flags:
        nodes.append(("div", answer.node, ("num", Fraction(100))))
    if "degree" in answer.flags:
        nodes.append(("mul", [answer.node, ("const", "pi"), ("num", Fraction(1, 180))]))
    return nodes


def _is_infinite(node: Node) -> int:
    if node == ("const", "inf"):
        return 1
    if node[0] == "neg" and node[1] == ("const", "inf"):
        return -1
    return 0


def _sympy_equal(a: Node, b: Node) -> bool:
    import sympy

    difference = to_sympy(a) - to_sympy(b)
    simplified = sympy.simplify(difference)
    if simplified == 0:
        return True
    if simplified.free_symbols:
        return False
    value = sympy.N(simplified, 50)
    scale = max(abs(sympy.N(to_sympy(a), 50)), 1)
    return bool(abs(value) < scale * sympy.Float(10) ** -40)


def _exact_or_none(node: Node) -> tuple[Fraction | None, bool]:
    """The exact rational value (or None) and whether it failed only for being too large."""
    try:
        return exact_value(node), False
    except TooLarge:
        return None, True
    except (NotExact, ValueError, OverflowError, RecursionError):
        return None, False


def nodes_equal(a: Node, b: Node, allow_sympy: bool) -> bool:
    """Value equality of two expression trees. Raises NeedSympy if undecided without sympy."""
    if a == b:
        return True
    inf_a, inf_b = _is_infinite(a), _is_infinite(b)
    if inf_a or inf_b:
        return inf_a == inf_b
    exact_a, large_a = _exact_or_none(a)
    exact_b, large_b = _exact_or_none(b)
    if exact_a is not None and exact_b is not None:
        return exact_a == exact_b
    if large_a or large_b:
        # Towers and huge factorials: residues decide, or the pair is given up; never sympy, which would
        # hold a worker until the deadline.
        return huge_equal(a, b)
    symbols = free_symbols(a) | free_symbols(b)
    try:
        for env in sample_points(symbols):
            value_a, value_b = numeric_value(a, env), numeric_value(b, env)
            if abs(value_a - value_b) > REL_TOL * max(abs(value_a), abs(value_b), 1e-12):
                return False
        # Numerically equal. A rational against an irrational lookalike (3.1416 vs pi) needs proof.
        if symbols or (exact_a is None and exact_b is None):
            return True
    except NumericOverflow:
        return False  # beyond float range and not rational (e^{9^9}): given up, not sent to sympy
    except NotNumeric:
        pass
    if not allow_sympy:
        raise NeedSympy
    try:
        return _sympy_equal(a, b)
    except Exception:  # sympy cannot parse or decide: not provably equal
        return False


def _scalar_equal(gold: Answer, pred: Answer, allow_sympy: bool) -> bool:
    need_sympy = False
    for gold_node in _candidates(gold):
        for pred_node in _candidates(pred):
            try:
                if nodes_equal(gold_node, pred_node, allow_sympy):
                    return True
            except NeedSympy:
                need_sympy = True
    if need_sympy:
        raise NeedSympy
    return False


def _single_symbol(answer: Answer) -> bool:
    return answer.kind == "scalar" and answer.node is not None and answer.node[0] == "sym"


def _equation_equal(gold: Answer, pred: Answer, allow_sympy: bool) -> bool:
    (gl, gr), (pl, pr) = gold.items, pred.items
    if _single_symbol(gl) and _single_symbol(pl):
        return gl.node == pl.node and answers_equal(gr, pr, allow_sympy)
    if gl.kind != "scalar" or gr.kind != "scalar" or pl.kind != "scalar" or pr.kind != "scalar":
        return gl.text == pl.text and gr.text == pr.text
    if gl.node == pl.node and gr.node == pr.node:
        return True  # the same relation written alike (floors and other non-numeric parts included)
    # Same relation up to a non-zero factor: (gl - gr) / (pl - pr) is a constant.
    f_gold: Node = ("add", [gl.node, ("neg", gr.node)])
    f_pred: Node = ("add", [pl.node, ("neg", pr.node)])
    symbols = free_symbols(f_gold) | free_symbols(f_pred)
    try:
        ratios = []
        for env in sample_points(symbols, count=4):
            denominator = numeric_value(f_pred, env)
            if abs(denominator) < 1e-12:
                raise NotNumeric("zero")
            ratios.append(numeric_value(f_gold, env) / denominator)
        return abs(ratios[0]) > 1e-12 and all(abs(r - ratios[0]) <= 1e-8 * abs(ratios[0]) for r in ratios)
    except NotNumeric:
        return False


def _unordered_equal(gold: tuple[Answer, ...], pred: tuple[Answer, ...], allow_sympy: bool) -> bool:
    if len(gold) != len(pred):
        return False
    remaining = list(pred)
    for gold_item in gold:
        for index, pred_item in enumerate(remaining):
            if answers_equal(gold_item, pred_item, allow_sympy):
                del remaining[index]
                break
        else:
            return False
    return True


def _strip_equation(answer: Answer) -> Answer:
    # "x = 5" stands for 5 when compared with a bare value
    if answer.kind == "eq" and _single_symbol(answer.items[0]):
        return answer.items[1]
    return answer


def answers_equal(gold: Answer, pred: Answer, allow_sympy: bool = True) -> bool:
    """Equivalence of parsed answers. Without ``allow_sympy`` it raises NeedSympy when undecided."""
    if gold.kind == "eq" and pred.kind == "eq":
        return _equation_equal(gold, pred, allow_sympy)
    if gold.kind == "eq" or pred.kind == "eq":
        gold, pred = _strip_equation(gold), _strip_equation(pred)
        if gold.kind == "eq" or pred.kind == "eq":
            return False
    if gold.kind == "scalar" and pred.kind == "scalar":
        return _scalar_equal(gold, pred, allow_sympy)
    collections = ("list", "set", "seq", "union")
    if pred.kind == "list" and gold.kind not in collections and len(pred.items) > 1:
        # "\frac{1}{2} or 0.5": several spellings of one answer; any other value among them is wrong
        return all(answers_equal(gold, item, allow_sympy) for item in pred.items)
    if gold.kind == "set" and len(gold.items) == 1 and pred.kind not in collections:
        return answers_equal(gold.items[0], pred, allow_sympy)  # \{3\} and 3 name the same answer
    if pred.kind == "set" and len(pred.items) == 1 and gold.kind not in collections:
        return answers_equal(gold, pred.items[0], allow_sympy)
    if gold.kind in collections and pred.kind in collections:
        if gold.kind == "seq" and pred.kind == "seq":
            if gold.text != pred.text or len(gold.items) != len(pred.items):
                return False  # open and closed ends differ, or another arity
            return all(answers_equal(g, p, allow_sympy) for g, p in zip(gold.items, pred.items))
        if gold.kind == "seq" or pred.kind == "seq":
            seq, other = (gold, pred) if gold.kind == "seq" else (pred, gold)
            # a tuple written without its parentheses is the same tuple; an interval is not a list
            if seq.text != "()" or other.kind != "list" or len(seq.items) != len(other.items):
                return False
            return all(answers_equal(g, p, allow_sympy) for g, p in zip(gold.items, pred.items))
        strip = tuple(_strip_equation(item) for item in gold.items)
        return _unordered_equal(strip, tuple(_strip_equation(item) for item in pred.items), allow_sympy)
    if gold.kind == "matrix" and pred.kind == "matrix":
        if len(gold.items) != len(pred.items):
            return False
        return all(
            len(g.items) == len(p.items)
            and all(answers_equal(a, b, allow_sympy) for a, b in zip(g.items, p.items))
            for g, p in zip(gold.items, pred.items)
        )
    if gold.kind in ("text", "scalar") and pred.kind in ("text", "scalar"):
        return _text_key(gold.text) == _text_key(pred.text)
    return False


def robust_equal(gold: str | list[str], pred: str, allow_sympy: bool = True) -> bool:
    """True if ``pred`` equals any accepted ``gold`` answer. Without sympy it may raise NeedSympy."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("at least one ground truth is required")
    parsed_pred = parse_answer(pred)
    undecided = False
    for item in golds:
        if not isinstance(item, str):
            raise TypeError(f"ground truth must be str, got {type(item).__name__}")
        try:
            if answers_equal(parse_answer(item), parsed_pred, allow_sympy):
                return True
        except NeedSympy:
            undecided = True
    if undecided:
        raise NeedSympy
    return False


def quick_verdict(gold: str | list[str], pred: str) -> bool | None:
    """The decision of the cheap checks, or None when sympy is needed (run that in a worker)."""
    try:
        return robust_equal(gold, pred, allow_sympy=False)
    except NeedSympy:
        return None
