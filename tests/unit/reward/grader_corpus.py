"""An oracle corpus for the math graders: real benchmark answers rewritten by rules into equivalents and near-misses.

The label of a pair comes from the rule that built it (an equivalent rewriting or a near-miss), never from a
grader. The benchmark answers are read from the shared data folder next to the repository at run time; the
corpus is deterministic (rules are applied to every answer, then at most ``PER_RULE`` pairs per rule are kept,
chosen by a hash of the pair). ``PATHOLOGICAL`` adds inputs built to be expensive, labelled by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

SHARED_BENCHMARKS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "benchmarks"
MATH_FILES = ("aime.json", "aime25.json", "amc.json", "math.json", "minerva.json", "olympiad_bench.json")
PER_RULE = 120


@dataclass(frozen=True)
class Pair:
    """One labelled pair: ``equal`` is the rule's verdict; ``rule`` names the rule (``near:`` for near-misses)."""

    rule: str
    gold: str
    pred: str
    equal: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.gold, self.pred)


def _clean_gold(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if text.startswith("$") and text.endswith("$") and text.count("$") == 2:
        text = text[1:-1].strip()
    return text


def load_golds(folder: Path = SHARED_BENCHMARKS) -> list[str]:
    """Every distinct answer of the math benchmarks, in file order (empty when the data is absent)."""
    golds: dict[str, None] = {}
    for name in MATH_FILES:
        path = folder / name
        if not path.exists():
            continue
        for row in json.loads(path.read_text()):
            answers = row["answer"] if isinstance(row["answer"], list) else [row["answer"]]
            for answer in answers:
                text = _clean_gold(answer)
                if text and len(text) <= 200:
                    golds[text] = None
    return list(golds)


# ---------------------------------------------------------------- shapes of answers

_INT = re.compile(r"-?\d+")
_DEC = re.compile(r"-?\d+\.\d+")
_FRAC = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_SQRT = re.compile(r"(\d*)\\sqrt\{(\d+)\}")
_PAIR = re.compile(r"(\\left)?\(\s*([^(),\[\]]+?)\s*,\s*([^(),\[\]]+?)\s*(\\right)?\)")
_INTERVAL = re.compile(r"(\\left)?([\[(])\s*([^(),\[\]]+?)\s*,\s*([^(),\[\]]+?)\s*(\\right)?([\])])")
_LIST = re.compile(r"[^(){}\[\]\\]+(?:,[^(){}\[\]\\]+)+")
_SET = re.compile(r"\\\{([^{}]+(?:,[^{}]+)+)\\\}")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")  # 58,500 is one number, not a list
_SUM = re.compile(r"([^+\-=(){}]+)\+([^+\-=(){}]+)")
_FRAC_PI = re.compile(r"\\[dt]?frac\{(\d*)\\pi\}\{(\d+)\}")
_DEGREES = re.compile(r"(\d+)\^\{?\\circ\}?")


def _decimal(value: Fraction) -> str | None:
    # The terminating decimal of a fraction whose denominator has only the factors 2 and 5, else None.
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return None
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    return f"{float(value):.{digits}f}" if digits else str(value.numerator)


def _frac_tex(value: Fraction) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


# ---------------------------------------------------------------- equivalent rewritings


def eq_dfrac(g: str) -> Iterator[str]:
    if "\\frac" in g and "\\dfrac" not in g:
        yield g.replace("\\frac", "\\dfrac")


def eq_left_right(g: str) -> Iterator[str]:
    if "\\left" in g:
        yield g.replace("\\left", "").replace("\\right", "")
    elif "(" in g and g.count("(") == g.count(")"):
        yield g.replace("(", "\\left(").replace(")", "\\right)")


def eq_spacing(g: str) -> Iterator[str]:
    spaced = re.sub(r"\s*([+=,])\s*", r" \1 ", g).strip()
    if spaced != g:
        yield spaced
    tight = re.sub(r"\s+", "", g)
    if tight != g and "\\" not in g:
        yield tight


def eq_dollars(g: str) -> Iterator[str]:
    yield f"${g}$"


def eq_integer_forms(g: str) -> Iterator[str]:
    if _INT.fullmatch(g):
        yield f"{g}.0"
        if abs(int(g)) >= 1000:
            yield f"{int(g):,}".replace(",", "{,}")
            yield f"{int(g):,}".replace(",", "\\,")


def eq_fraction_forms(g: str) -> Iterator[str]:
    match = _FRAC.fullmatch(g)
    if match:
        sign, a, b = match.groups()
        yield f"{sign}{a}/{b}"
        yield f"{sign}\\frac{{{2 * int(a)}}}{{{2 * int(b)}}}"
        if int(b):
            decimal = _decimal(Fraction(int(a), int(b)) * (-1 if sign else 1))
            if decimal is not None:
                yield decimal


def eq_decimal_forms(g: str) -> Iterator[str]:
    if _DEC.fullmatch(g):
        value = Fraction(g)
        yield g + "0"
        if value.denominator != 1:
            yield _frac_tex(value)


def eq_text_wrappers(g: str) -> Iterator[str]:
    if _INT.fullmatch(g) or _DEC.fullmatch(g):
        yield f"\\text{{{g}}}"
        yield f"{g}\\text{{ cm}}"
        yield f"x = {g}"


def eq_percent(g: str) -> Iterator[str]:
    if g.endswith("\\%"):
        yield g[:-2].strip()


def eq_degrees(g: str) -> Iterator[str]:
    match = _DEGREES.fullmatch(g)
    if match:
        yield match.group(1)


def eq_reorder_set(g: str) -> Iterator[str]:
    match = _SET.fullmatch(g)
    if match:
        items = [item.strip() for item in match.group(1).split(",")]
        if len(set(items)) == len(items):
            yield "\\{" + ", ".join(reversed(items)) + "\\}"
    elif _LIST.fullmatch(g) and "=" not in g and not _GROUPED.fullmatch(g):
        items = [item.strip() for item in g.split(",")]
        if len(set(items)) == len(items) and all(items):
            yield ", ".join(reversed(items))


def eq_commute_sum(g: str) -> Iterator[str]:
    match = _SUM.fullmatch(g)
    if match and not match.group(1).rstrip().endswith(("^", "_")):
        left, right = match.group(1).strip(), match.group(2).strip()
        if left and right and not left.startswith("-"):
            yield f"{right}+{left}"


def eq_sqrt_forms(g: str) -> Iterator[str]:
    match = _SQRT.fullmatch(g)
    if match and match.group(1):
        k, m = int(match.group(1)), int(match.group(2))
        yield f"\\sqrt{{{k * k * m}}}"


def eq_pi_fraction(g: str) -> Iterator[str]:
    match = _FRAC_PI.fullmatch(g)
    if match:
        a, b = match.group(1) or "1", match.group(2)
        yield f"\\frac{{{a}}}{{{b}}}\\pi"


def eq_scientific(g: str) -> Iterator[str]:
    if _DEC.fullmatch(g) or (_INT.fullmatch(g) and abs(int(g)) >= 10):
        value = Fraction(g)
        if value:
            yield f"{value * 10}\\times 10^{{-1}}" if value.denominator == 1 else f"{g}\\times 10^{{0}}"


def eq_mixed_number(g: str) -> Iterator[str]:
    match = _FRAC.fullmatch(g)
    if match and not match.group(1) and int(match.group(3)) and int(match.group(2)) > int(match.group(3)) > 1:
        whole, rest = divmod(int(match.group(2)), int(match.group(3)))
        if rest:
            yield f"{whole}\\frac{{{rest}}}{{{match.group(3)}}}"


def eq_negative_fraction(g: str) -> Iterator[str]:
    match = _FRAC.fullmatch(g)
    if match and match.group(1):
        yield f"\\frac{{-{match.group(2)}}}{{{match.group(3)}}}"


def eq_rationalize(g: str) -> Iterator[str]:
    match = re.fullmatch(r"\\frac\{\\sqrt\{(\d+)\}\}\{(\d+)\}", g)
    if match and int(match.group(1)) == int(match.group(2)):
        yield f"\\frac{{1}}{{\\sqrt{{{match.group(1)}}}}}"


def eq_bold(g: str) -> Iterator[str]:
    if len(g) <= 30 and "\\text" not in g:
        yield f"\\mathbf{{{g}}}" if _INT.fullmatch(g) else f"\\displaystyle {g}"


def eq_real_line(g: str) -> Iterator[str]:
    if g in ("\\mathbb{R}", "(-\\infty,\\infty)", "(-\\infty, \\infty)"):
        yield "(-\\infty,\\infty)" if g == "\\mathbb{R}" else "\\mathbb{R}"


def _inequality(g: str, flip_strictness: bool) -> Iterator[str]:
    # an interval as an inequality in x: (a, b] is "a < x \\le b", (-\\infty, b) is "x < b"
    match = _INTERVAL.fullmatch(g)
    if match is None:
        return
    _, opener, low, high, _, closer = match.groups()
    low, high = low.strip(), high.strip()
    less_low = "<" if (opener == "(") ^ flip_strictness else "\\le"
    less_high = "<" if (closer == ")") ^ flip_strictness else "\\le"
    if low == "-\\infty" and "infty" not in high:
        yield f"x {less_high} {high}"
    elif high in ("\\infty", "+\\infty") and "infty" not in low:
        greater = {"<": ">", "\\le": "\\ge"}[less_low]
        yield f"x {greater} {low}"
    elif "infty" not in low and "infty" not in high and opener + closer != "()":
        # "(a, b)" may be a point; a half-open or closed interval is an interval
        yield f"{low} {less_low} x {less_high} {high}"


def eq_interval_inequality(g: str) -> Iterator[str]:
    yield from _inequality(g, flip_strictness=False)


# ---------------------------------------------------------------- near-misses


def near_inequality_strictness(g: str) -> Iterator[str]:
    yield from _inequality(g, flip_strictness=True)


def near_integer(g: str) -> Iterator[str]:
    if _INT.fullmatch(g):
        n = int(g)
        yield str(n + 1)
        yield str(n - 1)
        if n:
            yield str(-n)
            yield str(10 * n)


def near_tolerance_edge(g: str) -> Iterator[str]:
    # within a millionth: graders that round or compare with a loose tolerance accept these
    if _INT.fullmatch(g) and int(g):
        yield f"{g}.0001"
        yield f"{g}.000001"
    elif _DEC.fullmatch(g):
        yield g + "001"


def near_fraction(g: str) -> Iterator[str]:
    match = _FRAC.fullmatch(g)
    if match:
        sign, a, b = match.groups()
        yield f"{sign}\\frac{{{int(a) + 1}}}{{{b}}}"
        if a != b and int(a):
            yield f"{sign}\\frac{{{b}}}{{{a}}}"
        if int(a):
            yield f"{'' if sign else '-'}\\frac{{{a}}}{{{b}}}"


def near_decimal(g: str) -> Iterator[str]:
    if _DEC.fullmatch(g):
        last = int(g[-1])
        yield g[:-1] + str((last + 1) % 10) if last != 9 else g[:-1] + "8"
        if Fraction(g):
            yield g[1:] if g.startswith("-") else "-" + g


def near_sign_flip(g: str) -> Iterator[str]:
    # the first top-level "+" becomes "-": a+b vs a-b differ whenever b is not zero
    match = _SUM.fullmatch(g)
    if match and re.search(r"[1-9a-zA-Z\\]", match.group(2)):
        yield f"{match.group(1)}-{match.group(2)}"


def near_swap_pair(g: str) -> Iterator[str]:
    match = _PAIR.fullmatch(g) or _INTERVAL.fullmatch(g)
    if match is None:
        return
    groups = match.groups()
    if len(groups) == 4:
        left, a, b, right = groups
        opener, closer = "(", ")"
    else:
        left, opener, a, b, right, closer = groups
    if a.strip() != b.strip():
        yield f"{left or ''}{opener}{b}, {a}{right or ''}{closer}"


def near_interval_ends(g: str) -> Iterator[str]:
    match = _INTERVAL.fullmatch(g)
    if match and "\\infty" not in match.group(3):
        left, opener, a, b, right, closer = match.groups()
        flipped = "[" if opener == "(" else "("
        yield f"{left or ''}{flipped}{a}, {b}{right or ''}{closer}"


def near_drop_item(g: str) -> Iterator[str]:
    match = _SET.fullmatch(g)
    items = [i.strip() for i in (match.group(1) if match else g).split(",")]
    if (match or (_LIST.fullmatch(g) and "=" not in g and not _GROUPED.fullmatch(g))) and len(
        set(items)
    ) == len(items) >= 2:
        kept = ", ".join(items[:-1])
        yield "\\{" + kept + "\\}" if match else kept


def near_sqrt(g: str) -> Iterator[str]:
    match = re.search(r"\\sqrt\{(\d+)\}", g)
    if match:
        m = int(match.group(1))
        if m + 1 not in (1, 4, 9, 16, 25, 36, 49, 64, 81, 100) and m not in (0, 1):
            yield g[: match.start(1)] + str(m + 1) + g[match.end(1) :]


def near_pi(g: str) -> Iterator[str]:
    if "\\pi" in g and not re.search(r"\\pi\s*[-+]\s*\\pi", g):
        index = g.index("\\pi")
        yield g[:index] + "2\\pi" + g[index + 3 :]


def near_last_digit(g: str) -> Iterator[str]:
    # any answer with a digit: the last digit changes (a value, an exponent, a coefficient, an end point)
    if _INT.fullmatch(g) or _DEC.fullmatch(g) or _FRAC.fullmatch(g):
        return  # covered by the numeric rules
    for index in range(len(g) - 1, -1, -1):
        if g[index].isdigit():
            before = g[index - 1] if index else ""
            if before in ("_", "[") or (before == "{" and g[max(0, index - 2) : index] == "_{"):
                return  # a subscript or a root degree: a different name, not a nearby value
            digit = int(g[index])
            new = str(digit + 1) if digit < 8 else str(digit - 1)
            yield g[:index] + new + g[index + 1 :]
            return


EQUIVALENT: dict[str, Callable[[str], Iterator[str]]] = {
    "dfrac": eq_dfrac,
    "left_right": eq_left_right,
    "spacing": eq_spacing,
    "dollars": eq_dollars,
    "integer_forms": eq_integer_forms,
    "fraction_forms": eq_fraction_forms,
    "decimal_forms": eq_decimal_forms,
    "text_wrappers": eq_text_wrappers,
    "percent": eq_percent,
    "degrees": eq_degrees,
    "reorder_set": eq_reorder_set,
    "commute_sum": eq_commute_sum,
    "sqrt_forms": eq_sqrt_forms,
    "pi_fraction": eq_pi_fraction,
    "real_line": eq_real_line,
    "interval_inequality": eq_interval_inequality,
    "scientific": eq_scientific,
    "mixed_number": eq_mixed_number,
    "negative_fraction": eq_negative_fraction,
    "rationalize": eq_rationalize,
    "bold_display": eq_bold,
}
NEAR_MISS: dict[str, Callable[[str], Iterator[str]]] = {
    "integer": near_integer,
    "tolerance_edge": near_tolerance_edge,
    "fraction": near_fraction,
    "decimal": near_decimal,
    "sign_flip": near_sign_flip,
    "swap_pair": near_swap_pair,
    "interval_ends": near_interval_ends,
    "drop_item": near_drop_item,
    "sqrt": near_sqrt,
    "pi": near_pi,
    "last_digit": near_last_digit,
    "inequality_strictness": near_inequality_strictness,
}

# Hand-written forms the rules cannot produce from the benchmark answers, labelled by hand.
HAND = [
    ("4", "\\lfloor 4.5\\rfloor", True),
    ("5", "\\lceil 4.5\\rceil", True),
    ("5", "\\lfloor 4.5\\rfloor", False),
    ("6", "\\gcd(12, 18)", True),
    ("3", "\\gcd(12, 18)", False),
    ("36", "\\operatorname{lcm}(12, 18)", True),
    ("36", "\\text{lcm}(12,18)", True),
    ("3", "\\max(1,3)", True),
    ("1", "\\min(1,3)", True),
    ("1", "\\max(1,3)", False),
    ("x", "\\max(x, 1)", False),
    ("x+1", "\\max(x+1, 0)", False),
    ("\\lfloor x \\rfloor", "\\lfloor x+0.1 \\rfloor", False),
    ("(-\\infty,\\infty)", "\\mathbb{R}", True),
    ("(-\\infty,0)", "\\mathbb{R}", False),
    ("3", "x\\in\\{3\\}", True),
    ("3", "x\\in\\{4\\}", False),
    ("\\{3\\}", "3", True),
    ("0.25", "25\\%", True),
    ("25\\%", "0.25", True),
    ("25", "25\\%", True),
    ("0.3", "25\\%", False),
    ("\\frac{1}{2}", "\\tfrac12", True),
    ("2", "\\text{The answer is } 2", True),
    ("2", "\\text{The answer is } 3", False),
    ("2, 3", "2 \\text{ and } 3", True),
    ("2, 3", "2 \\text{ or } 3", True),
    ("2, 3", "2", False),
    ("x^2+1", "1+x^{2}", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{3}}{2}", False),
    ("10", "\\sqrt{100}", True),
    ("\\frac{\\pi}{3}", "60^\\circ", True),
    ("\\frac{\\pi}{3}", "30^\\circ", False),
    ("x+1000", "x+1000.5", False),
    ("\\frac{1}{3}", "0.3333333", False),
    ("\\frac{1}{3}", "0.\\overline{3}", True),
    ("\\pi", "3.1416", False),
    ("[1,2]", "[1,2)", False),
    ("(1,2)", "(2,1)", False),
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("2^{10}", "1024", True),
    ("2^{10}", "1023", False),
    ("\\binom{5}{2}", "10", True),
    ("5!", "120", True),
    ("5!", "119", False),
    ("e^{i\\pi}", "-1", True),
    ("\\log_2 8", "3", True),
    ("\\log_2 8", "4", False),
    ("y=2x+1", "y = 1 + 2x", True),
    ("y=2x+1", "y = 2x - 1", False),
]

# Inputs built to be expensive: towers, huge factorials, long numerals, deep nesting. Labels by hand
# (residues, parity, sizes); "given up" is False, which is also the right answer where the label is False.
PATHOLOGICAL = [
    ("9^{9^{9}}", "9^{9^{9}}+1", False),
    ("9^{9^{9}}", "3^{2\\cdot 9^{9}}", True),
    ("9^{9^{9}}", "-9^{9^{9}}", False),
    ("9^{9^{9^{9}}}", "9^{9^{9^{9}}}+1", False),
    ("2^{2^{2^{2^{2^{2}}}}}", "2^{2^{2^{2^{2^{2}}}}}-1", False),
    ("2^{3^{4^{5}}}", "2^{3^{4^{5}}}+2", False),
    ("10^{10^{10}}", "10^{10^{10}}\\cdot 1.0", True),
    ("100000!", "100000!+1", False),
    ("100000!", "100000!+210", False),  # 210 = 2*3*5*7: residues modulo small primes would not see it
    ("99999!", "\\frac{100000!}{100000}", True),
    ("(10^{100})!", "(10^{100})!+1", False),
    ("\\binom{100000}{50000}", "\\binom{100000}{50000}+1", False),
    ("e^{9^{9}}", "e^{9^{9}}+1", False),
    ("\\frac{1}{9^{9^{9}}}", "0", False),
    ("1" * 100_000, "1" * 99_999 + "2", False),
    ("1" * 100_000, "1" * 100_000, True),
    ("7", "1" * 100_000, False),
    ("x" * 100_000, "1", False),
    ("+".join(["x"] * 2000), "2000x", False),
    ("\\frac{1}{" * 200 + "2" + "}" * 200, "1", False),
    ("(" * 3000 + "1" + ")" * 3000, "2", False),
    ("\\sqrt{" * 1000 + "2" + "}" * 1000, "2", False),
    ("(x+1)^{500}", "1", False),
    ("\\sin(x)^{200}+\\cos(x)^{200}", "1", False),
    ("\\frac{{{{(((" * 50, "1", False),
]


def _pick(pairs: list[Pair], limit: int) -> list[Pair]:
    def digest(pair: Pair) -> str:
        return hashlib.sha1(f"{pair.rule}\x00{pair.gold}\x00{pair.pred}".encode()).hexdigest()

    return sorted(pairs, key=digest)[:limit]


def build_corpus(golds: list[str] | None = None, per_rule: int = PER_RULE) -> list[Pair]:
    """Rule-made pairs from the benchmark answers (at most ``per_rule`` per rule), then the hand-written forms.

    The pathological set is kept apart (:data:`PATHOLOGICAL`): it measures time, not recall.
    """
    golds = load_golds() if golds is None else golds
    seen: set[tuple[str, str]] = set()
    corpus: list[Pair] = []
    for prefix, rules, label in (("eq", EQUIVALENT, True), ("near", NEAR_MISS, False)):
        for name, rule in rules.items():
            made = []
            for gold in golds:
                for pred in rule(gold):
                    if pred != gold and (gold, pred) not in seen:
                        seen.add((gold, pred))
                        made.append(Pair(f"{prefix}:{name}", gold, pred, label))
            corpus.extend(_pick(made, per_rule))
    corpus.extend(Pair("hand", g, p, label) for g, p, label in HAND if (g, p) not in seen)
    return corpus


def subsample(corpus: list[Pair], every: int) -> list[Pair]:
    """A deterministic 1-in-``every`` subsample by pair hash (the same pairs on every run)."""
    return [
        p for p in corpus if int(hashlib.sha1(f"{p.gold}\x00{p.pred}".encode()).hexdigest(), 16) % every == 0
    ]


# ---------------------------------------------------------------- free-form responses

# The corpus's answers in responses without a box: earlier numbers as distractors, the answer stated the way a
# model does without a box, or (last template) not stated at all (a correct score there is a false positive).
FREE_FORM_TEMPLATES = (
    "We try 17 and 23 first, which fail.\nThe final answer is ${pred}$.",
    "After simplifying 3/4 of the terms:\nAnswer: {pred}",
    "Checking the case 12 separately, we obtain\n$${pred}$$",
    "So the answer is {pred}.",
    "I computed 17, then {pred}, and I am still checking the remaining cases",
)


@dataclass(frozen=True)
class FreeFormResponse:
    pair: Pair
    response: str
    stated: bool  # the template states the answer

    @property
    def answered_equal(self) -> bool:
        return self.stated and self.pair.equal


def free_form_responses(pairs: list[Pair]) -> list[FreeFormResponse]:
    """One response per pair (templates in turn), for pairs whose prediction fits on one line."""
    usable = [p for p in pairs if "\n" not in p.pred and "$" not in p.pred]
    out = []
    for index, pair in enumerate(usable):
        template = FREE_FORM_TEMPLATES[index % len(FREE_FORM_TEMPLATES)]
        stated = index % len(FREE_FORM_TEMPLATES) != len(FREE_FORM_TEMPLATES) - 1
        out.append(FreeFormResponse(pair, "<think>.</think>" + template.format(pred=pair.pred), stated))
    return out


# ---------------------------------------------------------------- the reviewed disagreements

REVIEWED = Path(__file__).resolve().parents[2] / "data" / "grader" / "disagreements.tsv"
VERDICTS = ("ours", "math-verify", "neither")  # who is right
_COLUMNS = ("rule", "gold", "pred", "label", "ours", "math_verify", "verdict", "reason")


def read_reviewed(path: Path = REVIEWED) -> dict[tuple[str, str], dict[str, str]]:
    """The reviewed disagreements by (gold, pred); each row has a verdict and a one-line reason."""
    if not path.exists():
        return {}
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != len(_COLUMNS) or cells[0] == "rule":
            if cells[0] == "rule":
                continue
            raise ValueError(f"{path}:{number}: expected {len(_COLUMNS)} tab-separated cells {_COLUMNS}")
        row = dict(zip(_COLUMNS, cells))
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"{path}:{number}: verdict must be one of {VERDICTS}, got {row['verdict']!r}")
        rows[(row["gold"], row["pred"])] = row
    return rows


def format_row(pair: Pair, ours: bool, math_verify: bool, verdict: str, reason: str) -> str:
    """One line of the reviewed file (cells are written as they are: answers never hold tabs or newlines)."""
    cells = (pair.rule, pair.gold, pair.pred, str(pair.equal), str(ours), str(math_verify), verdict, reason)
    if any("\t" in cell or "\n" in cell for cell in cells):
        raise ValueError(f"a tab or newline in {cells!r}")
    return "\t".join(cells)
