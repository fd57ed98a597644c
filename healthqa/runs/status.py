"""Run statuses and what a run reports to its callers: RunError, RunProgress, RunSummary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import HealthQAError

# Run statuses. A run is "running" while a process works on it; a process
# that was killed leaves it "running" in the workspace, and the queries report
# it as INTERRUPTED (never stored) once that process is gone (owner.py).
PENDING, RUNNING, DONE, INCOMPLETE, FAILED, CANCELLED = (
    "pending", "running", "done", "incomplete", "failed", "cancelled")
INTERRUPTED = "interrupted"
FINISHED = (DONE, INCOMPLETE, FAILED, CANCELLED)


class RunError(HealthQAError):
    """A run that cannot be created or started; the message says why."""


# -- what callers see ---------------------------------------------------------

@dataclass(frozen=True)
class RunProgress:
    """One progress event, for the CLI's progress bar and the app's panel.

    Counts cover the whole run (items finished in earlier sessions too);
    tokens and cost as well, where earlier sessions recorded them. `eta` is
    seconds left at this session's pace, None until something finished.
    """

    run_id: str
    total: int
    done: int
    failed: int
    in_flight: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    elapsed: float
    eta: float | None

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.failed)


@dataclass
class RunSummary:
    """How a run ended; stored as JSON in runs.summary.

    status: done (every item answered), incomplete (some items failed:
    resume retries them), failed (a problem that stops the whole run:
    `message` says what to fix), cancelled. Counts are the whole run's;
    `calls` and `session_elapsed` are this session's.
    """

    run_id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    pending: int
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0  # part of input_tokens read from the provider's cache (cheaper)
    cost: float | None = None
    elapsed: float = 0.0
    session_elapsed: float = 0.0
    calls: int = 0
    message: str | None = None
    errors: dict[str, int] = field(default_factory=dict)  # most common item errors, with counts
    cost_basis: str | None = None  # "batch prices (50% off)" for a run sent as provider batches
    # What was changed this session because the server refused a parameter of the model
    # ("... does not take a temperature; sent without it"), remembered on the model config.
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)
