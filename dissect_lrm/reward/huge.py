"""Equality of values too large to compute (towers of powers, huge factorials) by residues modulo primes."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from dissect_lrm.reward.latex_expr import Node, NotExact, exact_value

# Two Mersenne primes. Two rationals with the same residues modulo both differ by a multiple of their
# product (~2^150): no answer near-miss is built that way, and off-by-one, sign or last-digit changes
# always change a residue.
PRIMES = (2**61 - 1, 2**89 - 1)
# Work bounds: one residue costs at most ~MAX_FACTORIAL multiplications or one modular power with an
# exponent of MAX_EXPONENT_BITS bits; beyond them the pair is given up (not provably equal).
MAX_FACTORIAL = 100_000
MAX_EXPONENT_BITS = 4096
MAX_NODES = 400


class Undecided(ArithmeticError):
    """The residue cannot be computed within the bounds (irrational, symbolic or too large)."""


def _small_integer(node: Node) -> int | None:
    # The exact value when it is an integer of at most MAX_EXPONENT_BITS bits, else None.
    try:
        value = exact_value(node)
    except (NotExact, ValueError, OverflowError, ZeroDivisionError):
        return None
    if value.denominator != 1 or value.numerator.bit_length() > MAX_EXPONENT_BITS:
        return None
    return value.numerator


def _is_natural(node: Node) -> bool:
    """True when the node is built from positive integers by +, *, ^ and ! (so its value is a positive integer)."""
    kind = node[0]
    if kind == "num":
        return node[1].denominator == 1 and node[1] > 0
    if kind in ("add", "mul"):
        return all(_is_natural(child) for child in node[1])
    if kind == "pow":
        return _is_natural(node[1]) and _is_natural(node[2])
    if kind == "fact":
        return _is_natural(node[1])
    return False


def _inverse(value: int, modulus: int) -> int:
    try:
        return pow(value, -1, modulus)
    except ValueError as error:  # not invertible: this modulus cannot represent the fraction
        raise Undecided("not invertible") from error


def _power(node: Node, modulus: int, prime: bool, budget: list[int]) -> int:
    base = residue(node[1], modulus, prime, budget)
    exponent = _small_integer(node[2])
    if exponent is not None:
        if exponent < 0:
            return pow(_inverse(base, modulus), -exponent, modulus)
        return pow(base, exponent, modulus)
    # A huge exponent: Fermat (b^(p-1) = 1 mod p for b not divisible by p) needs a prime modulus and an
    # exponent known to be a positive integer; its residue modulo p-1 is computed the same way.
    if not prime or not _is_natural(node[2]):
        raise Undecided("huge exponent")
    if base == 0:
        return 0
    return pow(base, residue(node[2], modulus - 1, False, budget), modulus)


def _factorial(node: Node, modulus: int) -> int:
    n = _small_integer(node[1])
    if n is None or n < 0 or n > MAX_FACTORIAL:
        raise Undecided("factorial too large")
    if modulus in PRIMES:  # one pass serves every prime (the product modulo their product)
        return _factorial_mod_all(n) % modulus
    return _product_mod(1, n, modulus)


@functools.lru_cache(maxsize=16)
def _factorial_mod_all(n: int) -> int:
    return _product_mod(1, n, math.prod(PRIMES))


def _product_mod(low: int, high: int, modulus: int) -> int:
    """(low * (low+1) * ... * high) mod modulus; blocks of 32 factors keep the Python-level loop short."""
    result = 1
    for start in range(max(low, 1), high + 1, 32):
        result = result * math.prod(range(start, min(start + 32, high + 1))) % modulus
    return result


def residue(node: Node, modulus: int, prime: bool = True, budget: list[int] | None = None) -> int:
    """The value of ``node`` modulo ``modulus`` (a rational maps through the inverse of its denominator).

    Raises Undecided when the node is not a rational built from numbers, +, -, *, /, ^, ! and binomials, or
    the work would exceed the bounds.
    """
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise Undecided("expression too large")
    kind = node[0]
    if kind == "num":
        value: Fraction = node[1]
        return value.numerator % modulus * _inverse(value.denominator % modulus, modulus) % modulus
    if kind == "add":
        return sum(residue(child, modulus, prime, budget) for child in node[1]) % modulus
    if kind == "mul":
        result = 1
        for child in node[1]:
            result = result * residue(child, modulus, prime, budget) % modulus
        return result
    if kind == "neg":
        return -residue(node[1], modulus, prime, budget) % modulus
    if kind == "div":
        numerator = residue(node[1], modulus, prime, budget)
        return numerator * _inverse(residue(node[2], modulus, prime, budget), modulus) % modulus
    if kind == "pow":
        return _power(node, modulus, prime, budget)
    if kind == "fact":
        return _factorial(node, modulus)
    if kind == "binom":
        n, k = _small_integer(node[1]), _small_integer(node[2])
        if n is None or k is None or not 0 <= k <= n <= MAX_FACTORIAL or not prime:
            raise Undecided("binomial out of range")
        k = min(k, n - k)
        return _product_mod(n - k + 1, n, modulus) * _inverse(_product_mod(1, k, modulus), modulus) % modulus
    raise Undecided(f"no residue for {kind}")


def huge_equal(a: Node, b: Node) -> bool:
    """Equality of two rational expressions at least one of which is too large to evaluate exactly.

    Different residues prove the values differ; equal residues modulo every prime are taken as equality.
    Anything that cannot be reduced (irrational parts, symbols, bounds exceeded) is not provably equal.
    """
    try:
        return all(residue(a, p) == residue(b, p) for p in PRIMES)
    except (Undecided, RecursionError):
        return False
