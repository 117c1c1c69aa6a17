"""N-gram repetition penalty on response text."""

import pytest

from dissect_lrm.algos.repetition import ngram_repetition_fraction, repetition_penalty


def test_ngram_repetition_fraction():
    # bigrams of "a b a b a b": ab ba ab ba ab -> 5 total, 2 unique
    assert ngram_repetition_fraction("a b a b a b", 2) == pytest.approx(0.6)
    assert ngram_repetition_fraction("A b a B", 2) == pytest.approx(1 - 2 / 3)  # lower-cased: ab ba ab
    assert ngram_repetition_fraction("a b c", 2) == 0.0
    assert ngram_repetition_fraction("too short", 40) == 0.0


def test_repetition_penalty_only_for_incorrect():
    penalty, repetitive = repetition_penalty(
        ["a b a b a b", "a b a b a b", "x y z"], [False, True, False], ngram_size=2, max_penalty=-0.5
    )
    assert penalty.tolist() == pytest.approx([-0.3, 0.0, 0.0])
    assert repetitive.tolist() == [True, False, False]


def test_repetition_penalty_length_mismatch():
    with pytest.raises(ValueError, match="2 responses but 1 correctness flags"):
        repetition_penalty(["a", "b"], [False])
