"""A small LaTeX/plain-math expression parser with exact, numeric and sympy evaluators (bounded work)."""

from __future__ import annotations

import cmath
import math
import random
import re
from fractions import Fraction
from typing import Any

# An expression tree is nested tuples: ("num", Fraction) ("sym", name) ("const", "pi"|"e"|"i"|"inf")
# ("add", [..]) ("mul", [..]) ("neg", x) ("div", a, b) ("pow", a, b) ("fact", x) ("abs", x)
# ("fn", name, x) ("log", base|None, x) ("root", n, x) ("binom", n, k) ("round", "floor"|"ceil", x)
# ("multi", "gcd"|"lcm"|"max"|"min", [..]).
Node = tuple

MAX_DEPTH = 120  # deeper input (e.g. 200 nested fractions) is not an answer; refuse it quickly
MAX_TOKENS = 600
MAX_EXACT_EXPONENT = 4096
MAX_EXACT_BITS = 200_000
MAX_FACTORIAL = 3000


class ParseError(ValueError):
    """The string is not an expression this parser understands."""


class NotExact(ArithmeticError):
    """The value is not a rational number computable within the bounds."""


class TooLarge(NotExact):
    """The value may be rational but is too large to compute exactly (towers, huge factorials)."""


class NotNumeric(ArithmeticError):
    """The value cannot be computed as a finite complex float."""


class NumericOverflow(NotNumeric):
    """The value (or an intermediate) is beyond float range: too large for a cheap decision."""


_FUNCTIONS = {
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "ln", "log", "exp", "sqrt", "lg", "floor", "ceil", *("gcd", "lcm", "max", "min"),
}  # fmt: skip
_MULTI_ARGUMENT = ("gcd", "lcm", "max", "min")
# Commands that close a bracket: never the start of an implicit product.
_CLOSING_COMMANDS = {"\\rfloor", "\\rceil", "\\rvert"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega", "ell",
}  # fmt: skip
_DECORATIONS = {"dot", "ddot", "hat", "bar", "vec", "tilde", "overline"}
_UNICODE = {
    "π": "\\pi", "∞": "\\infty", "√": "\\sqrt", "·": "*", "×": "*", "÷": "/", "−": "-", "⋅": "*",
    "⌊": "\\lfloor ", "⌋": "\\rfloor ", "⌈": "\\lceil ", "⌉": "\\rceil ",
}  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+(?![\d.]))?)|(?P<cmd>\\[A-Za-z]+|\\.)"
    r"|(?P<word>[A-Za-z]+)|(?P<op>\*\*|[-+*/^_!()\[\]{},=|'<>]))"
)
_MULTIPLY_COMMANDS = {"\\cdot", "\\times", "\\ast"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, text); kinds are num, cmd, sym, fn, op."""
    for old, new in _UNICODE.items():
        text = text.replace(old, new)
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    n = len(text)
    while pos < n:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos = match.end()
        if match.group("num") is not None:
            tokens.append(("num", match.group("num")))
        elif match.group("cmd") is not None:
            cmd = match.group("cmd")
            if cmd[1:] in _FUNCTIONS:
                tokens.append(("fn", cmd[1:]))
            else:
                tokens.append(("cmd", cmd))
        elif match.group("word") is not None:
            word = match.group("word")
            if word in _FUNCTIONS:
                tokens.append(("fn", word))
            elif word == "pi":
                tokens.append(("cmd", "\\pi"))
            elif word in ("inf", "oo"):
                tokens.append(("cmd", "\\infty"))
            else:
                # plain letters multiply ("xy" = x*y), as in most answer conventions
                tokens.extend(("sym", letter) for letter in word)
        else:
            op = match.group("op")
            tokens.append(("op", "^" if op == "**" else op))
        if len(tokens) > MAX_TOKENS:
            raise ParseError("expression too long")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ParseError("unexpected end")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token[1] != text:
            raise ParseError(f"expected {text!r}, got {token[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression nested too deeply")

    def parse(self) -> Node:
        node = self.additive()
        if self.pos != len(self.tokens):
            raise ParseError(f"trailing token {self.tokens[self.pos][1]!r}")
        return node

    def additive(self) -> Node:
        self.enter()
        terms = [self.term()]
        while (token := self.peek()) is not None and token[1] in ("+", "-"):
            self.take()
            right = self.term()
            terms.append(right if token[1] == "+" else ("neg", right))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("add", terms)

    def starts_primary(self, token: tuple[str, str] | None) -> bool:
        if token is None:
            return False
        kind, text = token
        if kind in ("num", "sym", "fn"):
            return True
        if kind == "cmd":
            return text not in _MULTIPLY_COMMANDS and text not in (
                "\\div",
                "\\pm",
                "\\mp",
                *_CLOSING_COMMANDS,
            )
        return text in ("(", "[", "{")

    def term(self) -> Node:
        node = self.unary()
        while True:
            token = self.peek()
            if token is None:
                break
            if token[1] in ("*",) or token[1] in _MULTIPLY_COMMANDS:
                self.take()
                node = ("mul", [node, self.unary()])
            elif token[1] in ("/", "\\div"):
                self.take()
                node = ("div", node, self.unary())
            elif self.starts_primary(token) and token[0] != "num":
                # Juxtaposition never puts a numeral after a factor ("2x", not "x2"): "\frac{1}{2}1" or
                # "10^{33}1" is a different answer, not a product with 1.
                node = ("mul", [node, self.power()])
            else:
                break
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token[1] == "-":
            self.take()
            self.enter()
            node = ("neg", self.unary())
            self.depth -= 1
            return node
        if token is not None and token[1] == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        self.enter()
        base = self.postfix()
        token = self.peek()
        if token is not None and token[1] == "^":
            self.take()
            exponent = self.exponent()
            base = ("pow", base, exponent)
            while (token := self.peek()) is not None and token[1] == "!":
                self.take()
                base = ("fact", base)
        self.depth -= 1
        return base

    def exponent(self) -> Node:
        token = self.peek()
        if token is not None and token[1] in ("-", "+"):
            self.take()
            inner = self.exponent()
            return ("neg", inner) if token[1] == "-" else inner
        # right-associative: 2^3^2 = 2^(3^2)
        return self.power()

    def postfix(self) -> Node:
        node = self.primary()
        while (token := self.peek()) is not None and token[1] in ("!", "'"):
            self.take()
            if token[1] == "'":
                raise ParseError("derivative marks are not values")
            node = ("fact", node)
        return node

    def group(self) -> Node:
        """A TeX argument: {expr} or a single token."""
        token = self.peek()
        if token is not None and token[1] == "{":
            self.take()
            node = self.additive()
            self.expect("}")
            return node
        token = self.take()
        if token[0] == "num":
            # \frac12 means \frac{1}{2}: TeX reads one digit
            if len(token[1]) > 1 and token[1].isdigit():
                self.tokens.insert(self.pos, ("num", token[1][1:]))
                return ("num", Fraction(token[1][0]))
            return ("num", _number(token[1]))
        self.pos -= 1
        return self.primary()

    def subscript(self) -> str:
        token = self.peek()
        if token is None or token[1] != "_":
            return ""
        self.take()
        token = self.take()
        if token[1] == "{":
            parts = []
            while (inner := self.take())[1] != "}":
                parts.append(inner[1])
            return "_" + "".join(parts)
        return "_" + token[1]

    def primes(self) -> str:
        marks = ""
        while (token := self.peek()) is not None and token[1] == "'":
            self.take()
            marks += "'"
        return marks

    def function_argument(self) -> Node:
        token = self.peek()
        if token is not None and token[1] in ("(", "[", "{"):
            return self.primary()
        return self.power()

    def primary(self) -> Node:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return ("num", _number(text))
        if kind == "sym":
            sub = self.subscript()
            if text == "e" and not sub:
                return ("const", "e")
            if text == "i" and not sub:
                return ("const", "i")
            return ("sym", text + sub + self.primes())
        if kind == "op":
            closer = {"(": ")", "[": "]", "{": "}", "|": "|"}.get(text)
            if closer is None:
                raise ParseError(f"unexpected {text!r}")
            node = self.additive()
            self.expect(closer)
            return ("abs", node) if text == "|" else node
        if kind == "fn":
            return self._function(text)
        # commands
        name = text[1:]
        if name in ("frac", "over"):
            numerator = self.group()
            return ("div", numerator, self.group())
        if name in ("binom", "dbinom", "tbinom", "choose"):
            n = self.group()
            return ("binom", n, self.group())
        if name == "pi":
            return ("const", "pi")
        if name == "infty":
            return ("const", "inf")
        if name in _GREEK:
            return ("sym", name + self.subscript() + self.primes())
        if name in _DECORATIONS:  # \dot{x}, \hat{y}: a distinct symbol
            inner = self.group()
            if inner[0] != "sym":
                raise ParseError("decoration of a non-symbol")
            return ("sym", name + "{" + inner[1] + "}" + self.subscript() + self.primes())
        if name in ("lfloor", "lceil"):
            node = self.additive()
            self.expect("\\r" + name[1:])
            return ("round", name[1:], node)
        if name in ("lvert", "rvert", "vert", "|"):
            node = self.additive()
            closing = self.take()
            if closing[1] not in ("\\rvert", "\\vert", "\\|", "|"):
                raise ParseError("unclosed absolute value")
            return ("abs", node)
        raise ParseError(f"unsupported command {text}")

    def _function(self, name: str) -> Node:
        if name in _MULTI_ARGUMENT:  # \gcd(12, 18), \max(1, 3)
            self.expect("(")
            arguments = [self.additive()]
            while (token := self.peek()) is not None and token[1] == ",":
                self.take()
                arguments.append(self.additive())
            self.expect(")")
            return ("multi", name, arguments)
        if name in ("floor", "ceil"):
            return ("round", name, self.function_argument())
        if name == "sqrt":
            token = self.peek()
            degree: Node = ("num", Fraction(2))
            if token is not None and token[1] == "[":
                self.take()
                degree = self.additive()
                self.expect("]")
            return ("root", degree, self.group())
        base: Node | None = None
        power: Node | None = None
        token = self.peek()
        if token is not None and token[1] == "_" and name == "log":
            self.take()
            base = self.group()
            token = self.peek()
        if token is not None and token[1] == "^":  # \sin^2 x
            self.take()
            power = self.group()
        argument = self.function_argument()
        if name in ("log", "ln", "lg"):
            if name == "lg":
                base = ("num", Fraction(10))
            node: Node = ("log", base, argument)
        else:
            node = ("fn", name, argument)
        return ("pow", node, power) if power is not None else node


def _number(text: str) -> Fraction:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError) as error:
        raise ParseError(f"bad number {text!r}") from error


def parse_latex(text: str) -> Node:
    """Parse ``text`` (LaTeX or plain notation) into an expression tree; raises ParseError."""
    tokens = tokenize(text)
    if not tokens:
        raise ParseError("empty expression")
    return _Parser(tokens).parse()


def free_symbols(node: Node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if item[0] == "sym":
            out.add(item[1])
        for child in item[1:]:
            if isinstance(child, tuple):
                stack.append(child)
            elif isinstance(child, list):
                stack.extend(child)
    return out


# ---------------------------------------------------------------- exact (rational) evaluation


def _bits(value: Fraction) -> int:
    return value.numerator.bit_length() + value.denominator.bit_length()


def _exact_root(value: Fraction, degree: int) -> Fraction:
    if degree <= 0 or degree > 64:
        raise NotExact
    if value < 0:
        if degree % 2 == 0:
            raise NotExact
        return -_exact_root(-value, degree)
    roots = []
    for part in (value.numerator, value.denominator):
        root = round(part ** (1.0 / degree)) if part.bit_length() < 1000 else None
        if root is None:
            raise NotExact
        for candidate in (root - 1, root, root + 1):
            if candidate >= 0 and candidate**degree == part:
                roots.append(candidate)
                break
        else:
            raise NotExact
    return Fraction(roots[0], roots[1])


def exact_value(node: Node) -> Fraction:
    """The rational value of ``node``; raises NotExact for irrational, symbolic or oversized values."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "add":
        return sum((exact_value(child) for child in node[1]), Fraction(0))
    if kind == "mul":
        result = Fraction(1)
        for child in node[1]:
            result *= exact_value(child)
            if _bits(result) > MAX_EXACT_BITS:
                raise TooLarge
        return result
    if kind == "neg":
        return -exact_value(node[1])
    if kind == "div":
        denominator = exact_value(node[2])
        if denominator == 0:
            raise NotExact
        return exact_value(node[1]) / denominator
    if kind == "pow":
        base = exact_value(node[1])
        exponent = exact_value(node[2])
        if exponent.denominator != 1:
            return (
                _exact_root(base, exponent.denominator) ** exponent.numerator
                if abs(exponent) < 64
                else _raise()
            )
        e = exponent.numerator
        if abs(base) == 1:
            return base ** (e % 2) if base < 0 else base
        if abs(e) > MAX_EXACT_EXPONENT or _bits(base) * abs(e) > MAX_EXACT_BITS:
            raise TooLarge
        if base == 0 and e < 0:
            raise NotExact
        return base**e
    if kind == "fact":
        value = exact_value(node[1])
        if value.denominator != 1 or value < 0:
            raise NotExact
        if value > MAX_FACTORIAL:
            raise TooLarge
        return Fraction(math.factorial(int(value)))
    if kind == "binom":
        n, k = exact_value(node[1]), exact_value(node[2])
        if n.denominator != 1 or k.denominator != 1 or n < 0:
            raise NotExact
        if n > MAX_FACTORIAL:
            raise TooLarge
        return Fraction(math.comb(int(n), int(k))) if k >= 0 else Fraction(0)
    if kind == "abs":
        return abs(exact_value(node[1]))
    if kind == "round":
        value = exact_value(node[2])
        return Fraction(math.floor(value) if node[1] == "floor" else math.ceil(value))
    if kind == "multi":
        return _exact_multi(node[1], [exact_value(child) for child in node[2]])
    if kind == "root":
        degree = exact_value(node[1])
        if degree.denominator != 1:
            raise NotExact
        return _exact_root(exact_value(node[2]), int(degree))
    raise NotExact


def _exact_multi(name: str, values: list[Fraction]) -> Fraction:
    if name == "max":
        return max(values)
    if name == "min":
        return min(values)
    if any(value.denominator != 1 for value in values):
        raise NotExact  # gcd and lcm of non-integers are not answers
    integers = [value.numerator for value in values]
    return Fraction(math.gcd(*integers) if name == "gcd" else math.lcm(*integers))


def _raise() -> Fraction:
    raise TooLarge


# ---------------------------------------------------------------- numeric (complex float) evaluation

_NUMERIC_FUNCTIONS = {
    "sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "arcsin": cmath.asin, "arccos": cmath.acos,
    "arctan": cmath.atan, "sinh": cmath.sinh, "cosh": cmath.cosh, "tanh": cmath.tanh, "exp": cmath.exp,
    "sec": lambda x: 1 / cmath.cos(x), "csc": lambda x: 1 / cmath.sin(x), "cot": lambda x: 1 / cmath.tan(x),
}  # fmt: skip
_CONSTANTS = {"pi": complex(math.pi), "e": complex(math.e), "i": 1j}


def numeric_value(node: Node, env: dict[str, complex]) -> complex:
    """The value of ``node`` with symbols bound by ``env``; raises NotNumeric on overflow or poles."""
    try:
        value = _numeric(node, env)
    except OverflowError as error:
        raise NumericOverflow(str(error)) from error
    except (ZeroDivisionError, ValueError, KeyError) as error:
        raise NotNumeric(str(error)) from error
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise NumericOverflow("not finite")
    return value


def _numeric(node: Node, env: dict[str, complex]) -> complex:
    kind = node[0]
    if kind == "num":
        return complex(float(node[1]))
    if kind == "sym":
        return env[node[1]]
    if kind == "const":
        if node[1] == "inf":
            raise NotNumeric("infinity")
        return _CONSTANTS[node[1]]
    if kind == "add":
        return sum((_numeric(child, env) for child in node[1]), 0j)
    if kind == "mul":
        result = 1 + 0j
        for child in node[1]:
            result *= _numeric(child, env)
        return result
    if kind == "neg":
        return -_numeric(node[1], env)
    if kind == "div":
        return _numeric(node[1], env) / _numeric(node[2], env)
    if kind == "pow":
        base = _numeric(node[1], env)
        exponent = _numeric(node[2], env)
        if abs(exponent) > 1e4 and abs(base) != 1:
            raise OverflowError("huge exponent")
        if exponent.imag == 0 and exponent.real == int(exponent.real) and base.imag == 0:
            return complex(base.real ** int(exponent.real))
        if base.imag == 0 and base.real >= 0 and exponent.imag == 0:
            return complex(base.real**exponent.real)
        return base**exponent
    if kind == "fact":
        value = _numeric(node[1], env)
        if value.imag != 0 or value.real > 170 or value.real < 0:
            raise OverflowError("factorial out of range")
        return complex(math.gamma(value.real + 1))
    if kind == "binom":
        n, k = _numeric(node[1], env), _numeric(node[2], env)
        if n.imag or k.imag or n.real > 170:
            raise OverflowError("binomial out of range")
        return complex(math.gamma(n.real + 1) / (math.gamma(k.real + 1) * math.gamma(n.real - k.real + 1)))
    if kind == "abs":
        return complex(abs(_numeric(node[1], env)))
    if kind == "root":
        degree = _numeric(node[1], env)
        value = _numeric(node[2], env)
        if value.imag == 0 and value.real < 0 and degree.imag == 0 and degree.real % 2 == 1:
            return complex(-((-value.real) ** (1 / degree.real)))  # odd root of a negative real
        if value.imag == 0 and value.real >= 0:
            return complex(value.real ** (1 / degree.real))
        if value.imag == 0:  # -0.0j would select the other branch: sqrt(-1) must be +i
            value = complex(value.real, 0.0)
        return value ** (1 / degree)
    if kind == "fn":
        return _NUMERIC_FUNCTIONS[node[1]](_numeric(node[2], env))
    if kind in ("round", "multi") and env and free_symbols(node):
        # piecewise in its variables: equal values at a few samples prove nothing (max(x, 1) vs x)
        raise ValueError(f"{kind} of a variable is piecewise")
    if kind == "round":
        value = _numeric(node[2], env)
        if value.imag:
            raise ValueError("floor of a complex number")
        return complex(math.floor(value.real) if node[1] == "floor" else math.ceil(value.real))
    if kind == "multi":
        values = [_numeric(child, env) for child in node[2]]
        if node[1] not in ("max", "min") or any(value.imag for value in values):
            raise ValueError(f"{node[1]} needs exact integers")
        pick = max if node[1] == "max" else min
        return complex(pick(value.real for value in values))
    if kind == "log":
        value = cmath.log(_numeric(node[2], env))
        return value if node[1] is None else value / cmath.log(_numeric(node[1], env))
    raise NotNumeric(f"unknown node {kind}")


def sample_points(symbols: set[str], count: int = 3) -> list[dict[str, complex]]:
    """Deterministic random bindings for an identity test (positive reals avoid branch cuts)."""
    rng = random.Random(12345)
    ordered = sorted(symbols)
    return [{name: complex(rng.uniform(0.6, 2.4)) for name in ordered} for _ in range(count)]


# ---------------------------------------------------------------- sympy conversion (workers only)


def to_sympy(node: Node) -> Any:
    """A sympy expression for ``node`` (imports sympy; call inside a deadline-bounded worker)."""
    import sympy

    def convert(item: Node) -> Any:
        kind = item[0]
        if kind == "num":
            return sympy.Rational(item[1].numerator, item[1].denominator)
        if kind == "sym":
            return sympy.Symbol(item[1])
        if kind == "const":
            return {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "inf": sympy.oo}[item[1]]
        if kind == "add":
            return sympy.Add(*[convert(child) for child in item[1]])
        if kind == "mul":
            return sympy.Mul(*[convert(child) for child in item[1]])
        if kind == "neg":
            return -convert(item[1])
        if kind == "div":
            return convert(item[1]) / convert(item[2])
        if kind == "pow":
            return sympy.Pow(convert(item[1]), convert(item[2]))
        if kind == "fact":
            return sympy.factorial(convert(item[1]))
        if kind == "binom":
            return sympy.binomial(convert(item[1]), convert(item[2]))
        if kind == "abs":
            return sympy.Abs(convert(item[1]))
        if kind == "root":
            return sympy.root(convert(item[2]), convert(item[1]))
        if kind == "round":
            return (sympy.floor if item[1] == "floor" else sympy.ceiling)(convert(item[2]))
        if kind == "multi":
            function = {"gcd": sympy.gcd, "lcm": sympy.lcm, "max": sympy.Max, "min": sympy.Min}[item[1]]
            arguments = [convert(child) for child in item[2]]
            return function(*arguments) if item[1] in ("max", "min") else _fold(function, arguments)
        if kind == "fn":
            function = {"arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan}.get(item[1])
            return (function or getattr(sympy, item[1]))(convert(item[2]))
        if kind == "log":
            value = convert(item[2])
            return sympy.log(value) if item[1] is None else sympy.log(value, convert(item[1]))
        raise ParseError(f"unknown node {kind}")

    return convert(node)


def _fold(function: Any, arguments: list[Any]) -> Any:
    result = arguments[0]
    for argument in arguments[1:]:
        result = function(result, argument)
    return result
