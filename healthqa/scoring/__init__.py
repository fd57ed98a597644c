"""HealthBench scoring: the formula (formula.py) and the scores of a
workspace's grades (results.py)."""

from .formula import (GradedCriterion, GradedExample, N_BOOTSTRAP, SEED, aggregate, bootstrap_std, majority_verdict,
                      score_example, score_examples, subset_score, worst_at_k)
from .results import MAJORITY, graded_examples, score_workspace
