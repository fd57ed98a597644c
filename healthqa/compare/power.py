"""How many questions a paired t-test needs to detect a difference: the exact noncentral-t answer.

For a paired design the test runs on the n per-question differences: a
one-sample t-test with df = n − 1 and noncentrality δ = (Δ / sd) · √n.  Its
two-sided power at level α is

    P(T > t_{1−α/2, n−1}) + P(T < t_{α/2, n−1}),   T ~ noncentral t(n − 1, δ),

exactly as statsmodels' `TTestPower.power` computes it; the number of
questions is the (real) n at which that power reaches the target, found by
bisection as `TTestPower.solve_power` finds it with a root finder, then
rounded up.  scipy.special provides the t quantile and the noncentral-t
distribution (the same functions scipy.stats uses, without its import cost).
"""

from __future__ import annotations

import math

ALPHA = 0.05
POWERS = (0.8, 0.9)
MAX_QUESTIONS = 10**9  # beyond this "how many" is not a useful answer


def paired_t_power(effect_size: float, nobs: float, alpha: float = ALPHA) -> float:
    """Two-sided power of a paired t-test with `nobs` pairs at standardised effect |Δ| / sd."""
    from scipy import special

    df = nobs - 1
    nc = effect_size * math.sqrt(nobs)
    upper = float(special.stdtrit(df, 1 - alpha / 2))
    lower = -upper
    return float(1 - special.nctdtr(df, nc, upper)) + float(special.nctdtr(df, nc, lower))


def solve_nobs(effect_size: float, power: float, alpha: float = ALPHA) -> float | None:
    """The real number of pairs at which the power reaches `power` (statsmodels' `nobs`).

    None when the effect is 0 or not finite, or when more than MAX_QUESTIONS would be needed.
    Power rises with n for a fixed effect, so bisection between a point below and one above
    the target finds the root; 2 pairs (df = 1) is the smallest design considered.
    """
    effect = abs(float(effect_size))
    if not math.isfinite(effect) or effect == 0:
        return None
    low, high = 2.0, 4.0
    if paired_t_power(effect, low, alpha) >= power:
        return low
    while paired_t_power(effect, high, alpha) < power:
        low, high = high, high * 2
        if high > MAX_QUESTIONS:
            return None
    for _ in range(200):
        mid = (low + high) / 2
        if paired_t_power(effect, mid, alpha) < power:
            low = mid
        else:
            high = mid
        if high - low <= 1e-10 * high:
            break
    return (low + high) / 2


def questions_needed(delta: float | None, sd: float | None, *, alpha: float = ALPHA,
                     powers: tuple[float, ...] = POWERS) -> dict[str, int | None]:
    """{"power_80": n, "power_90": n}: whole questions needed to detect |delta| given the sd of the
    paired differences; None where undefined (delta or sd missing, delta = 0 or sd = 0)."""
    keys = [f"power_{round(p * 100)}" for p in powers]
    if delta is None or sd is None or delta == 0 or sd == 0 or not math.isfinite(sd):
        return dict.fromkeys(keys)
    out: dict[str, int | None] = {}
    for key, power in zip(keys, powers):
        nobs = solve_nobs(abs(delta) / sd, power, alpha)
        out[key] = None if nobs is None else max(2, math.ceil(nobs - 1e-9))
    return out
