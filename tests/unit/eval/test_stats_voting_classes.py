"""maj@k over the grader's equivalence classes: wrong answers that agree also vote together."""

from __future__ import annotations

import numpy as np

from dissect_lrm.eval.grading import answer_labels
from dissect_lrm.eval.stats import maj_at_k


def test_equivalent_wrong_answers_outvote_a_smaller_right_class():
    answers = np.array([["1/2", "1/2", "14/2", "7.0", "\\frac{14}{2}"]], dtype=object)
    correct = np.array([[1, 1, 0, 0, 0]], dtype=bool)
    labels = answer_labels(answers, correct, "robust")
    assert labels[0, 0] == labels[0, 1] and labels[0, 2] == labels[0, 3] == labels[0, 4] != labels[0, 0]
    assert maj_at_k(labels, correct, ks=[5])[5] == 0.0  # three 7s (spelled three ways) beat two 1/2s
    choice = answer_labels(
        np.array([["A", "B", "A"]], dtype=object), np.array([[1, 0, 1]]), multiple_choice=True
    )
    assert choice[0, 0] == choice[0, 2] != choice[0, 1]
