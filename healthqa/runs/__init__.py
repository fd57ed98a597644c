"""Model runs: questions sent to a configured model, and the model grader as a run of its own.

A run's work items are written before any call; the engine (engine.py) drives
any job kind (jobs.py: answers; grader.py: grades) with bounded concurrency,
writes results on one database thread (database.py), and records which
process works on a run (owner.py). status.py has the statuses and errors,
queries.py reads runs back, lifecycle.py creates, executes and resumes them.
A run marked as a batch run goes out through the providers' batch APIs
instead (batch.py; its engine batch_engine.py, per item batch_items.py).
"""

from .batch import (DEFAULT_MAX_ATTEMPTS as BATCH_MAX_ATTEMPTS, DEFAULT_POLL, MAX_POLL, BatchProgress, cancel_run,
                    execute_batch_run, mark_batch_run)

from .grader import (DEFAULT_MAX_ATTEMPTS, GRADER_TEMPLATE, NO_EXPLANATION, PROMPT_SHA256, PROMPT_VERSION,
                     create_grade_run, grader_prompt, parse_grader_reply, render_conversation, render_criterion)
from .contemplating import ContemplatingJob
from .jobs import model_config_by_id
from .lifecycle import create_run, execute_run, resume_run
from .study import MAJORITY_RATER, mode_study, mode_study_choices
from .modes import CONTEMPLATING, DEFAULT_DRAFTS, INSTANT, MAX_DRAFTS, MODES, THINKING, default_mode
from .owner import stop_on_sigterm
from .queries import failed_items, get_run, is_batch_run, list_runs, resolve_run_id, run_row
from .status import CANCELLED, DONE, FAILED, INCOMPLETE, PENDING, RUNNING, RunError, RunProgress, RunSummary
