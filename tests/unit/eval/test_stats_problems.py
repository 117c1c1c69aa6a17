"""Per-problem statistics: accuracy histogram (Table 4), maj@k, greedy flips, token statistics."""

import itertools
from collections import Counter

import numpy as np
import pytest

from dissect_lrm.eval.stats import (
    accuracy_histogram,
    correctness_flips,
    encode_answers,
    greedy_flips,
    maj_at_k,
    token_stats,
)


def test_histogram_boundaries_follow_the_paper():
    accuracy = np.arange(6) / 5  # 0, .2, .4, .6, .8, 1 from 5 runs: every edge exactly
    result = accuracy_histogram(accuracy)
    assert result["bins"] == ["[0, 0.2)", "[0.2, 0.4)", "[0.4, 0.6)", "[0.6, 0.8)", "[0.8, 1]"]
    assert result["counts"] == [1, 1, 1, 1, 2]
    assert result["uncertain_count"] == 3  # .2, .4, .6 (0.8 is certain: the band is half-open)
    assert result["mixed_ratio"] == pytest.approx(4 / 6)
    assert result["all_correct_ratio"] == pytest.approx(1 / 6)


def test_histogram_reproduces_table_4_amc23_ratios():
    # AMC23 in Table 4: 14, 3, 7, 8, 51 problems per bin -> 21.69% uncertain.
    accuracy = np.repeat([0.1, 0.3, 0.5, 0.7, 0.9], [14, 3, 7, 8, 51])
    result = accuracy_histogram(accuracy)
    assert result["counts"] == [14, 3, 7, 8, 51]
    assert round(100 * result["uncertain_ratio"], 2) == 21.69
    assert round(100 * result["certain_ratio"], 2) == 78.31


def test_histogram_custom_band_and_edges():
    accuracy = np.array([0.0, 0.05, 0.5, 0.95, 1.0])
    result = accuracy_histogram(accuracy, edges=(0.0, 0.5, 1.0), band=(0.0, 1.0))
    assert result["counts"] == [2, 3]
    assert result["uncertain_count"] == 4  # everything but accuracy 1.0
    with pytest.raises(ValueError):
        accuracy_histogram(accuracy, edges=(0.5, 0.2))


def test_encode_answers_is_per_problem_and_marks_missing():
    answers = np.array([["7", "3", "7", None], ["x", "", "x", "y"]], dtype=object)
    labels = encode_answers(answers)
    assert labels[0, 0] == labels[0, 2] != labels[0, 1]
    assert labels[0, 3] == -1 and labels[1, 1] == -1
    assert labels[1, 0] == labels[1, 2] != labels[1, 3]
    assert labels.max() <= 1  # renumbered within each problem


def brute_force_maj(answers: list, correct: list, k: int) -> float:
    credit = {}
    for answer in set(a for a in answers if a is not None):
        marks = [c for a, c in zip(answers, correct) if a == answer]
        credit[answer] = sum(marks) / len(marks)
    total = 0.0
    subsets = list(itertools.combinations(range(len(answers)), k))
    for subset in subsets:
        votes = Counter(answers[i] for i in subset if answers[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        tied = [a for a, v in votes.items() if v == top]
        total += sum(credit[a] for a in tied) / len(tied)
    return total / len(subsets)


MAJ_ANSWERS = [
    ["5", "5", "4", "4", "4", None],
    ["1", "2", "3", "1", "2", "1"],
    [None, None, "9", "8", "9", "8"],
]
MAJ_CORRECT = [[1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]]


def test_maj_at_n_is_exact():
    result = maj_at_k(np.array(MAJ_ANSWERS, dtype=object), MAJ_CORRECT, ks=[6])
    expected = np.mean([brute_force_maj(a, c, 6) for a, c in zip(MAJ_ANSWERS, MAJ_CORRECT)])
    assert result[6] == pytest.approx(expected, abs=1e-12)
    # Problem 0: "4" wins 3-2 (wrong); problem 1: "1" wins (wrong); problem 2: tie 9/8 -> half credit.
    assert expected == pytest.approx(0.5 / 3)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_maj_at_k_matches_subset_enumeration(k):
    result = maj_at_k(np.array(MAJ_ANSWERS, dtype=object), MAJ_CORRECT, ks=[k])
    expected = np.mean([brute_force_maj(a, c, k) for a, c in zip(MAJ_ANSWERS, MAJ_CORRECT)])
    assert result[k] == pytest.approx(expected, abs=1e-12)  # exact, not a Monte Carlo estimate


def test_maj_at_1_is_accuracy_over_answered_runs_and_integer_labels_work():
    labels = np.array([[0, 0, 1, 2], [3, 3, 3, 3]])
    correct = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    result = maj_at_k(labels, correct, ks=[1, 4])
    assert result[1] == pytest.approx(correct.mean(), abs=1e-12)
    assert result[4] == 1.0
    with pytest.raises(ValueError, match="shape"):
        maj_at_k(labels[:, :3], correct)


def test_greedy_flips_hand_case():
    accuracy = np.array([0.9, 0.1, 0.5, 0.3])
    greedy = np.array([0, 1, 1, 0])
    result = greedy_flips(accuracy, greedy)
    assert result["greedy_right_sampled_wrong"] == 1  # problem 1
    assert result["greedy_wrong_sampled_right"] == 1  # problem 0
    assert result["flip_rate"] == pytest.approx(0.5)
    assert result["flip_rate_uncertain"] == 0.0  # problems 2 and 3 agree
    assert result["expected_disagreement"] == pytest.approx((0.9 + 0.9 + 0.5 + 0.3) / 4)
    assert result["greedy_accuracy"] == pytest.approx(0.5)
    assert result["greedy_inconsistent_ratio"] == 0.0


def test_greedy_flips_with_repeated_greedy_runs():
    accuracy = np.array([0.9, 0.1])
    greedy = np.array([[1, 0], [0, 0]])  # problem 0: greedy not deterministic (Appendix D)
    result = greedy_flips(accuracy, greedy)
    assert result["flip_count"] == pytest.approx(0.5)
    assert result["greedy_inconsistent_ratio"] == pytest.approx(0.5)
    assert correctness_flips([1, 0, 1, 0], [1, 1, 0, 0]) == {
        "wrong_to_right": 1,
        "right_to_wrong": 1,
        "unchanged": 2,
    }


def test_token_stats_hand_case():
    tokens = np.array([[10, 20], [30, 40]])
    correct = np.array([[1, 1], [0, 0]])
    result = token_stats(tokens, correct=correct, baseline_tokens=np.full((2, 3), 50), max_tokens=40)
    assert result["mean_tokens"] == 25
    assert result["median_tokens"] == 25
    assert result["mean_tokens_correct"] == 15
    assert result["mean_tokens_incorrect"] == 35
    assert result["tokens_saved"] == 25
    assert result["tokens_saved_ratio"] == pytest.approx(0.5)
    assert result["truncated_ratio"] == pytest.approx(0.25)


def test_token_stats_respects_mask():
    tokens = np.array([[10.0, np.nan], [30.0, 40.0]])
    result = token_stats(tokens, mask=~np.isnan(tokens))
    assert result["mean_tokens"] == pytest.approx(80 / 3)
    with pytest.raises(ValueError, match="NaN"):
        token_stats(tokens)
