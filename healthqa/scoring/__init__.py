"""HealthBench scoring: the formula (formula.py) and the scores of a
workspace's grades (results.py)."""

from .formula import (GradedCriterion, GradedExample, N_BOOTSTRAP, SEED, aggregate, bootstrap_std, majority_verdict,
                      majority_verdicts, score_example, score_examples, subset_score, subset_scores, worst_at_k)
from .results import MAJORITY, GradedAnswers, graded_answers, graded_examples, score_workspace
