"""How agreement figures and verdicts read on screen: the statistics' and verdicts' names, and numbers.

Shared by the Agreement panel and its parts (heatmap, table models,
adjudication view), so a statistic or a verdict is named the same everywhere.
The keys are those of healthqa.agreement's reports.
"""

from __future__ import annotations

import math

PAIR_STATISTICS = {  # of one pair of raters (the heatmap)
    "percent_agreement": "Percent agreement",
    "cohen_kappa": "Cohen's κ",
    "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha": "Krippendorff's α",
}
GROUP_STATISTICS = {  # of all raters together (tiles, by axis, by theme)
    "percent_agreement": "% agreement",
    "fleiss_kappa": "Fleiss' κ",
    "krippendorff_alpha": "Kripp. α",
    "gwet_ac1": "Gwet's AC1",
}
BREAKDOWNS = {  # the groups agreement_overview breaks the items into
    "axis": "By axis",
    "theme": "By theme",
}
VERDICT_LABELS = {"met": "Met", "not_met": "Not met", "cannot_judge": "Cannot judge", None: "No verdict"}
VERDICT_COLOURS = {  # THEME names: (ink, background)
    "met": ("met", "met_bg"), "not_met": ("not_met", "not_met_bg"),
    "cannot_judge": ("cannot_judge", "cj_bg"), None: ("muted", "chip"),
}


def fmt(value, digits: int = 2) -> str:
    """A figure with `digits` decimals; "—" when it is missing or undefined (NaN)."""
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_ci(ci) -> str:
    """A 95% interval as "low–high"; "" when there is none."""
    return "" if not ci or ci[0] is None else f"{ci[0]:.2f}–{ci[1]:.2f}"
