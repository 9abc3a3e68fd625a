"""Continual-learning metrics against matrices worked out by hand."""

from __future__ import annotations

import pytest

from whet.continual import score_matrix as metrics

BEFORE = [0.1, 0.2, 0.3]
MATRIX = [[0.9, 0.3, 0.2],  # after experience 1
          [0.6, 0.8, 0.4],  # after experience 2
          [0.5, 0.7, 0.9]]  # after experience 3


def test_average_accuracy_is_the_mean_of_the_last_row():
    assert metrics.average_accuracy(MATRIX) == pytest.approx((0.5 + 0.7 + 0.9) / 3)


def test_average_incremental_accuracy_averages_the_accuracy_on_seen_experiences_after_each_step():
    # after 1: 0.9; after 2: (0.6 + 0.8) / 2 = 0.7; after 3: 0.7
    assert metrics.average_incremental_accuracy(MATRIX) == pytest.approx((0.9 + 0.7 + 0.7) / 3)


def test_forgetting_is_the_best_earlier_score_minus_the_final_one():
    # experience 1: max(0.9, 0.6) - 0.5 = 0.4; experience 2: max(0.3, 0.8) - 0.7 = 0.1; none for the last
    assert metrics.forgetting(MATRIX) == pytest.approx([0.4, 0.1])
    assert metrics.mean_forgetting(MATRIX) == pytest.approx(0.25)


def test_forgetting_counts_scores_from_before_an_experience_trained():
    matrix = [[0.9, 0.85], [0.2, 0.8]]
    assert metrics.forgetting(matrix) == pytest.approx([0.7])
    matrix = [[0.9, 0.85, 0.0], [0.6, 0.8, 0.0], [0.5, 0.7, 0.9]]
    assert metrics.forgetting(matrix) == pytest.approx([0.4, 0.15])  # max(0.85, 0.8) - 0.7


def test_backward_transfer_compares_the_final_scores_with_those_just_after_training():
    # ((0.5 - 0.9) + (0.7 - 0.8)) / 2
    assert metrics.backward_transfer(MATRIX) == pytest.approx(-0.25)
    improving = [[0.5, 0.0], [0.7, 0.9]]
    assert metrics.backward_transfer(improving) == pytest.approx(0.2)


def test_forward_transfer_compares_scores_before_training_with_the_starting_model():
    # experience 2: 0.3 - 0.2; experience 3: 0.4 - 0.3
    assert metrics.forward_transfer(MATRIX, BEFORE) == pytest.approx(0.1)
    assert metrics.forward_transfer([[0.9, 0.1], [0.5, 0.8]], [0.0, 0.4]) == pytest.approx(-0.3)


def test_summary_of_one_experience_leaves_the_pairwise_metrics_empty():
    summary = metrics.summary([[0.8]], [0.1])
    assert summary["average_accuracy"] == pytest.approx(0.8)
    assert summary["average_incremental_accuracy"] == pytest.approx(0.8)
    assert summary["forgetting"] == []
    assert summary["mean_forgetting"] is None and summary["backward_transfer"] is None
    assert summary["forward_transfer"] is None


def test_summary_while_a_plan_runs_covers_the_experiences_trained_so_far():
    partial = MATRIX[:2]
    summary = metrics.summary(partial, BEFORE)
    assert summary["average_accuracy"] == pytest.approx(0.7)  # (0.6 + 0.8) / 2, not counting experience 3
    assert summary["forgetting"] == pytest.approx([0.3])
    assert summary["forward_transfer"] == pytest.approx(0.1)
