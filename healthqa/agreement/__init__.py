"""Agreement between raters: statistics (stats.py), conversation-level
bootstrap intervals (bootstrap.py) and the full report (report.py)."""

from .bootstrap import conversation_bootstrap_weights, percentile_intervals
from .report import DEGENERATE_NOTE_SHARE, RatingTable, agreement_report, degenerate_note
from .stats import (PERCENT_AGREEMENT_DEFINITIONS, cohen_kappa, count_matrix, f1_scores, pair_statistics,
                    rater_statistics, table_as_counts)
