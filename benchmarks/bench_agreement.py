"""Time agreement_report on synthetic rubric verdicts and print the figures.

Two sizes from the brief: 3 raters x 2,000 answers x 11 criteria (target
1.5 s) and 5 raters x 5,000 answers x 11 criteria (target 5 s), both with
2,000 bootstrap resamples and memory under 1 GB.

Raters are correlated the realistic way: each item has a latent truth whose
prevalence varies by criterion (mostly "met", like real rubrics); each rater
copies it with a rater-specific accuracy, and a few verdicts are missing.

Run: .venv/bin/python benchmarks/bench_agreement.py
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np

from healthqa.agreement import RatingTable, agreement_report

N_CRITERIA = 11
SIZES = [  # (clinicians, model raters, answers, target seconds)
    (2, 1, 2_000, 1.5),
    (3, 2, 5_000, 5.0),
]
MEMORY_TARGET_MB = 1024


def synthetic_table(n_clinicians: int, n_models: int, n_answers: int, seed: int = 0) -> RatingTable:
    rng = np.random.default_rng(seed)
    n_raters = n_clinicians + n_models
    n_items = n_answers * N_CRITERIA
    criterion = np.tile(np.arange(N_CRITERIA), n_answers)
    prevalence = rng.uniform(0.55, 0.95, size=N_CRITERIA)[criterion]
    truth = rng.random(n_items) < prevalence
    accuracy = rng.uniform(0.75, 0.9, size=n_raters)
    agrees = rng.random((n_items, n_raters)) < accuracy
    values = np.where(agrees, truth[:, None], ~truth[:, None]).astype(np.int8)
    values[rng.random((n_items, n_raters)) < 0.03] = -1  # cannot judge
    axes = np.array(["accuracy", "completeness", "communication", "context", "instruction"])
    return RatingTable(
        values=values,
        conversation=np.repeat(np.arange(n_answers), N_CRITERIA),
        raters=[f"clinician{i}" for i in range(n_clinicians)] + [f"model{i}" for i in range(n_models)],
        kinds=["clinician"] * n_clinicians + ["model"] * n_models,
        groups={"axis": axes[criterion % len(axes)], "criterion": criterion.astype(str)},
    )


def measure(table: RatingTable, **options) -> tuple[float, float]:
    """(best wall seconds of 3 runs, peak traced MB of one run)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        agreement_report(table, **options)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    agreement_report(table, **options)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak


def main() -> None:
    print("agreement_report, n_boot=2000, best of 3 runs; peak memory via tracemalloc")
    for n_clinicians, n_models, n_answers, target in SIZES:
        table = synthetic_table(n_clinicians, n_models, n_answers)
        n_raters = n_clinicians + n_models
        ratings = table.values.size
        label = f"{n_raters} raters x {n_answers} answers x {N_CRITERIA} criteria ({ratings:,} ratings)"
        seconds, peak = measure(table)
        print(
            f"{label}: {seconds:.3f} s (target {target} s, ratio {seconds / target:.2f}), "
            f"peak {peak:.0f} MB (ratio to 1 GB {peak / MEMORY_TARGET_MB:.3f})"
        )
        for by in ("axis", "criterion"):
            seconds, peak = measure(table, by=by)
            print(f"  with by={by!r}: {seconds:.3f} s (ratio {seconds / target:.2f}), peak {peak:.0f} MB")
    # ru_maxrss is in KiB on Linux; it includes the interpreter and numpy.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS over all runs: {rss:.0f} MB")


if __name__ == "__main__":
    main()
