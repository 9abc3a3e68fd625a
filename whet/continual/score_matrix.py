"""Continual-learning metrics computed from the score matrix (definitions in docs/continual.md).

``matrix[i][j]`` is the score on experience j after training experiences 0..i (0-based here;
the docs count from 1), and ``before[j]`` the score on experience j before any training.
With N experiences:

* average accuracy: mean_j R[N][j], over every experience after the last step
* average incremental accuracy: mean_i (mean_{j<=i} R[i][j]), the average accuracy after each step
* forgetting of j < N: max_{l<N} R[l][j] - R[N][j], the best earlier score minus the final one
* backward transfer: mean_{j<N} (R[N][j] - R[j][j])
* forward transfer: mean_{j>1} (R[j-1][j] - before[j]), what earlier steps did for j before it trained

Metrics that need two or more experiences are None for a single one.
"""

from __future__ import annotations

Matrix = list[list[float]]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def average_accuracy(matrix: Matrix) -> float:
    return _mean(matrix[-1])


def average_incremental_accuracy(matrix: Matrix) -> float:
    return _mean([_mean(row[: i + 1]) for i, row in enumerate(matrix)])


def forgetting(matrix: Matrix) -> list[float]:
    """Per experience except the last: the best score before the last step minus the final score."""
    final = matrix[-1]
    return [max(row[j] for row in matrix[:-1]) - final[j] for j in range(len(matrix) - 1)]


def mean_forgetting(matrix: Matrix) -> float | None:
    return _mean(forgetting(matrix))


def backward_transfer(matrix: Matrix) -> float | None:
    final = matrix[-1]
    return _mean([final[j] - matrix[j][j] for j in range(len(matrix) - 1)])


def forward_transfer(matrix: Matrix, before: list[float]) -> float | None:
    return _mean([matrix[j - 1][j] - before[j] for j in range(1, len(matrix))])


def summary(matrix: Matrix, before: list[float]) -> dict:
    """Every metric of a complete matrix (one row per step so far, one column per experience).

    Rows may be fewer than columns while a plan runs: the metrics then describe the experiences
    trained so far.
    """
    trained = [row[: len(matrix)] for row in matrix]
    return {
        "average_accuracy": average_accuracy(trained),
        "average_incremental_accuracy": average_incremental_accuracy(trained),
        "forgetting": forgetting(trained),
        "mean_forgetting": mean_forgetting(trained),
        "backward_transfer": backward_transfer(trained),
        "forward_transfer": forward_transfer(trained, before),
    }
