"""Runs: send a question set to a model (or grade a run with a model grader) and watch it go.

A run is created through the ops helper (its work items are written before
anything is sent), then executed by the run engine on the async worker's
loop thread; progress events come back as signals about ten times a second,
so the window stays responsive during thousands of calls. Cancel stops the
run cleanly (every stored result is complete) and Resume sends only what
has no result yet. Past runs are listed with their counts; selecting one
shows the items that failed and why. The widgets are built in runs_layout.py.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from healthqa.runs import (CANCELLED, CONTEMPLATING, DONE, RUNNING, BatchProgress, RunProgress, RunSummary,
                           cancel_run, create_grade_run, create_run, execute_batch_run, execute_run, failed_items,
                           list_runs, mark_batch_run, run_row)
from healthqa.store import batch_details, list_model_configs, list_sets

from ..async_worker import AsyncTask, TaskControl, async_worker_for, warm_up_http_stack
from ..widgets.combo import fill_combo
from .runs_layout import SAME_MODEL, STATUS_WORDS, RunsLayout, mode_word, short_id
from .worker_panel import WorkerPanel

ROW_UPDATE_S = 2.0  # how often the active run's row in the list shows new counts
FAILED_ITEMS_SHOWN = 200  # a run failing on a wrong setting can have thousands; the first ones tell why


# -- work done off the GUI thread ---------------------------------------------------

def load_overview(ws) -> dict:
    return {"sets": list_sets(ws), "models": [c.name for c in list_model_configs(ws)], "runs": list_runs(ws)}


async def execute(control: TaskControl, ws, run_id: str, concurrency: int, rpm: float | None,
                  batch: bool = False, poll_interval: float | None = None) -> RunSummary:
    """The run engine on the worker's loop; progress goes to the GUI thread, Cancel sets the event.
    A batch run polls its provider batches there too (Cancel stops waiting; the batches go on)."""
    if batch:
        return await execute_batch_run(ws, run_id, on_progress=control.report, cancel=control.cancel_event,
                                       **({"poll_interval": poll_interval} if poll_interval else {}))
    return await execute_run(ws, run_id, concurrency=concurrency, rpm=rpm, on_progress=control.report,
                             cancel=control.cancel_event)


def create_answer_run(ws, *, model_name: str, set_name: str, samples: int, batch: bool, **mode) -> str:
    """An answer run (mode, drafts, aggregator as create_run takes them), marked to go out as provider
    batches when asked."""
    run_id = create_run(ws, model_name=model_name, set_name=set_name, samples=samples, **mode)
    if batch:
        mark_batch_run(ws, run_id)
    return run_id


def create_grading_pass(ws, source_run_id: str, grader_name: str, *, batch: bool) -> str:
    run_id = create_grade_run(ws, source_run_id, grader_name)
    if batch:
        mark_batch_run(ws, run_id)
    return run_id


def run_title(row: dict) -> str:
    if row["kind"] == "grade":
        return (f"Grading the answers of run …{short_id(row['source_run_id'] or '')} with "
                f"{row['model'] or '(deleted model)'}")
    samples = row.get("samples") or 1
    mode = f" · {mode_word(row)}" if row.get("mode") else ""
    return (f"Answering “{row['set'] or '(deleted set)'}” with {row['model'] or '(deleted model)'}{mode}"
            f" · {samples} sample{'s' if samples != 1 else ''} per question")


# -- the panel ---------------------------------------------------------------------------

class RunsPanel(RunsLayout, WorkerPanel):
    name = "runs"
    title = "Runs"
    watches = frozenset({"runs", "model_configs", "question_sets", "set_members"})

    poll_interval: float | None = None  # batch runs: None is the engine's default (30 s, backing off)

    sig_run_started = Signal(str)
    """run id — a run began (or resumed) on the worker thread."""
    sig_run_finished = Signal(object)
    """RunSummary — the run stopped (done, incomplete, failed or cancelled) and its summary is stored."""
    sig_run_failed = Signal(str)
    """message — a run could not be created or executed at all."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.task: AsyncTask | None = None
        self.active_run_id: str | None = None
        self._select_after_refresh: str | None = None
        self._busy = False  # a run is being created or executed: one at a time
        self._row_updated = 0.0
        self._warmed = False  # the HTTP stack is imported in the background on the first refresh
        self._reattached = False  # live provider batches are picked up once, when the panel first loads
        self._active_batch = False
        self._build()
        self._on_mode_changed()
        self._update_buttons()

    # -- public API ----------------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(load_overview, self.ctx.ws, on_done=self._show_overview, key="runs.overview")
        if not self._warmed:
            self._warmed = True
            self.ctx.ops.run(warm_up_http_stack, io=True)

    def is_running(self) -> bool:
        return self.task is not None

    def start_run(self, set_name: str, model_name: str, samples: int, *, mode: str | None = None,
                  drafts: int | None = None, aggregator: str | None = None, batch: bool = False) -> None:
        """Create an answer run (work items first), then execute it. mode: instant, thinking or
        contemplating (None: the config's own); drafts and aggregator go with contemplating;
        `batch`: sent as provider batches."""
        self.progress.begin(f"Preparing a run of “{set_name}” with {model_name}…")
        self._set_busy(True)
        self.ctx.ops.run(create_answer_run, self.ctx.ws, model_name=model_name, set_name=set_name, samples=samples,
                         mode=mode, drafts=drafts, aggregator=aggregator, batch=batch,
                         on_done=self._on_run_created, on_error=self._on_create_failed, owner=self)

    def start_grading(self, source_run_id: str, grader_name: str, *, batch: bool = False) -> None:
        self.progress.begin(f"Preparing the model grader {grader_name}…")
        self._set_busy(True)
        self.ctx.ops.run(create_grading_pass, self.ctx.ws, source_run_id, grader_name, batch=batch,
                         on_done=self._on_run_created, on_error=self._on_create_failed, owner=self)

    def resume_run(self, run_id: str) -> None:
        """Execute the run's unfinished items (pending, or failed earlier)."""
        self._set_busy(True)
        self.ctx.ops.run(run_row, self.ctx.ws, run_id, on_done=self._execute, on_error=self._on_create_failed,
                         owner=self)

    def cancel_run(self) -> None:
        if self.task is not None:
            self.progress.cancelling()
            self.task.cancel()

    # -- private: loading ------------------------------------------------------------------
    def _show_overview(self, data: dict) -> None:
        fill_combo(self.set_combo, [(f"{s['name']}  ({s['questions']} questions)", s["name"]) for s in data["sets"]])
        fill_combo(self.model_combo, [(name, name) for name in data["models"]])
        fill_combo(self.aggregator_combo, [("Same model", SAME_MODEL)] + [(name, name) for name in data["models"]])
        graders_first = sorted(data["models"], key=lambda name: "grader" not in name.lower())  # a likely default
        fill_combo(self.grader_combo, [(name, name) for name in graders_first])
        selected = self._select_after_refresh or self._selected_run_id()
        self._select_after_refresh = None
        self.runs_model.set_rows(data["runs"])
        row = next((i for i, r in enumerate(data["runs"]) if r["id"] == selected), 0 if data["runs"] else -1)
        if row >= 0:
            self.runs_view.selectRow(row)
        else:
            self.items_model.set_rows([])
        self._reattach(data["runs"])
        if not data["sets"]:
            self.form_hint.setText("No question set yet: import one with File → Import questions, results or Inspect log.")
        elif not data["models"]:
            self.form_hint.setText("No model yet: add one in the Models panel.")
        else:
            self.form_hint.setText("")
        self.form_hint.setVisible(bool(self.form_hint.text()))
        self.add_model_button.setVisible(not data["models"])
        self._update_buttons()

    def _reattach(self, runs: list[dict]) -> None:
        """Once, when the panel first loads: a batch run with provider batches still out, and no live
        process polling it, is picked up again (its results may have arrived while HealthQA was closed)."""
        if self._reattached:
            return
        self._reattached = True
        waiting = [r for r in runs if r.get("open_batches") and r["status"] != RUNNING]
        if waiting and not self._busy:
            self.resume_run(waiting[0]["id"])

    def _selected_run(self) -> dict | None:
        index = self.runs_view.currentIndex()
        return self.runs_model.rows[index.row()] if index.isValid() else None

    def _selected_run_id(self) -> str | None:
        run = self._selected_run()
        return run["id"] if run else None

    def _on_run_selected(self, current: QModelIndex | QPersistentModelIndex, previous=None) -> None:
        self._update_buttons()
        run = self._selected_run()
        if run is None:
            self.items_model.set_rows([])
            return
        # Only the failed items: the ones still waiting are not news (a run in progress has thousands).
        self.ctx.ops.run(failed_items, self.ctx.ws, run["id"], FAILED_ITEMS_SHOWN, key="runs.detail", owner=self,
                         on_done=lambda items, run=run: self._show_items(run, items))
        self.ctx.ops.run(batch_details, self.ctx.ws, run["id"], key="runs.batches", owner=self,
                         on_done=lambda rows, run_id=run["id"]: self._show_batches(run_id, rows))

    def _show_batches(self, run_id: str, rows: list[dict]) -> None:
        """The selected run's provider batches: state, counts, and when HealthQA looks again."""
        if run_id != self._selected_run_id():
            return
        self.batches_model.set_rows(rows)
        self.batches_title.setText(f"PROVIDER BATCHES OF RUN …{short_id(run_id)}: {len(rows)}")
        self.batches_title.setVisible(bool(rows))
        self.batches_view.setVisible(bool(rows))
        live = any(not b["collected"] and not b["cancel_requested"] and b["provider_id"] for b in rows)
        self.cancel_batches_button.setVisible(live)
        self._update_buttons()

    def _show_items(self, run: dict, items: list[dict]) -> None:
        if run["id"] != self._selected_run_id():
            return
        self.items_model.set_rows(items)
        failed = max(run["counts"]["failed"], len(items))  # the list's count may be a moment older than the items
        shown = f"{failed:,}" if failed <= len(items) else f"{failed:,} (the first {len(items):,} shown)"
        waiting = run["counts"]["pending"]
        not_yet = "without a result yet" if run.get("batch") else "not sent yet"  # a batch run's are at the provider
        self.items_title.setText(f"FAILED ITEMS IN RUN …{short_id(run['id'])}: {shown}"
                                 + (f"  ·  {waiting:,} {not_yet}" if waiting else ""))

    def _status_word(self, row: dict) -> str:
        if row["status"] == RUNNING and row["id"] != self.active_run_id:
            return "Running elsewhere"  # another process (`healthqa run`?) works on it; a killed one is "interrupted"
        return STATUS_WORDS.get(row["status"], row["status"])

    # -- private: running -------------------------------------------------------------------
    def _on_start_clicked(self) -> None:
        set_name, model_name = self.set_combo.currentData(), self.model_combo.currentData()
        if set_name and model_name:
            mode = self.mode_combo.currentData()
            contemplating = mode == CONTEMPLATING
            self.start_run(set_name, model_name, self.samples_spin.value(), mode=mode,
                           drafts=self.drafts_spin.value() if contemplating else None,
                           aggregator=(self.aggregator_combo.currentData() or None) if contemplating else None,
                           batch=self.batch_check.isChecked() and not contemplating)

    def _on_mode_changed(self) -> None:
        contemplating = self.mode_combo.currentData() == CONTEMPLATING
        for widget in (self.drafts_spin, self.aggregator_combo):
            self.mode_form.setRowVisible(widget, contemplating)
        # Contemplating answers are composed in steps (drafts, then a synthesis): not one batch request.
        self.batch_check.setEnabled(not contemplating)

    def _on_grade_clicked(self) -> None:
        run, grader = self._selected_run(), self.grader_combo.currentData()
        if run is not None and grader:
            self.start_grading(run["id"], grader, batch=self.grade_batch_check.isChecked())

    def _on_cancel_batches_clicked(self) -> None:
        run = self._selected_run()
        if run is None or not self.confirm(
                "Cancel provider batches",
                "Ask the provider to stop these batches? Results it already has are kept and read when the run "
                "is resumed; what it did not do is sent again only if you resume."):
            return
        self._set_busy(True)
        self.ctx.ops.run(cancel_run, self.ctx.ws, run["id"], io=True, owner=self,
                         on_done=self._on_batches_cancelled, on_error=self._on_create_failed)

    def _on_batches_cancelled(self, lines: list[str]) -> None:
        self._set_busy(False)
        self.sig_status.emit("; ".join(lines))
        self.mark_stale()
        self._on_run_selected(None)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this; the one modal question of the panel)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_batch_toggled(self, batch: bool) -> None:
        # A batch is sent as one job: how many at once and a rate limit do not apply.
        self.concurrency_spin.setEnabled(not batch)
        self.rpm_spin.setEnabled(not batch)

    def _on_resume_selected(self) -> None:
        run_id = self._selected_run_id()
        if run_id:
            self.resume_run(run_id)

    def _on_resume_shown(self) -> None:
        if self.active_run_id:
            self.resume_run(self.active_run_id)

    def _on_run_created(self, run_id: str) -> None:
        self._select_after_refresh = run_id
        # Listed before it starts: workspace calls run in order, and the change notice may come a moment later.
        self.refresh()
        self.ctx.ops.run(run_row, self.ctx.ws, run_id, on_done=self._execute, on_error=self._on_create_failed,
                         owner=self)

    def _execute(self, run: dict) -> None:
        rpm = self.rpm_spin.value() or None
        self.active_run_id = run["id"]
        self._active_batch = bool(run.get("batch"))
        how = " · as provider batches" if run.get("batch") else f" · {self.concurrency_spin.value()} at once"
        self.progress.begin(run_title(run) + how)
        self.task = async_worker_for(self.ctx).start(execute, self.ctx.ws, run["id"], self.concurrency_spin.value(),
                                                     rpm, bool(run.get("batch")), self.poll_interval,
                                                     soft_cancel=True)
        self.task.sig_event.connect(self._on_progress)
        self.task.sig_done.connect(self._on_finished)
        self.task.sig_failed.connect(self._on_execute_failed)
        self.task.sig_cancelled.connect(self._on_execute_cancelled)  # bound methods: dropped once the panel is gone
        self.task.sig_finished.connect(self._on_task_finished)
        self._set_busy(True)
        self.sig_run_started.emit(run["id"])
        self.sig_status.emit(f"Run …{short_id(run['id'])} started")

    def _on_progress(self, progress: RunProgress | BatchProgress) -> None:
        if isinstance(progress, BatchProgress):  # a batch run between two looks at its batches
            if progress.batches and progress.run.run_id == self._selected_run_id():
                self.ctx.ops.run(batch_details, self.ctx.ws, progress.run.run_id, key="runs.batches", owner=self,
                                 on_done=lambda rows, run_id=progress.run.run_id: self._show_batches(run_id, rows))
            progress = progress.run
        self.progress.show_progress(progress)
        # The run's row in the list follows too, but rarely: repainting a table row calls back into
        # Python for every cell and role, and each call waits for the GIL the run is using.
        now = time.monotonic()
        if now - self._row_updated < ROW_UPDATE_S:
            return
        self._row_updated = now
        for i, row in enumerate(self.runs_model.rows):
            if row["id"] == progress.run_id:
                counts = {"total": progress.total, "done": progress.done, "failed": progress.failed,
                          "pending": progress.pending}
                self.runs_model.update_row(i, {**row, "status": RUNNING, "counts": counts})
                break

    def _on_finished(self, summary: RunSummary) -> None:
        self.progress.show_summary(summary)
        if summary.status == CANCELLED and self._active_batch:
            # Cancel only stopped this window waiting: the provider keeps working on the batches.
            self.progress.show_message("Stopped watching. The provider goes on with the batches; Resume (or "
                                       "opening HealthQA again) picks up their results. To stop them at the "
                                       "provider, use “Cancel these batches at the provider…” below.", "warning")
        word = STATUS_WORDS.get(summary.status, summary.status).lower()
        self.sig_status.emit(f"Run …{short_id(summary.run_id)} {word}: {summary.done:,} of {summary.total:,} done")
        self.sig_run_finished.emit(summary)

    def _on_execute_failed(self, message: str, exc: object) -> None:
        self.progress.show_failure(message, resumable=True)
        self.sig_run_failed.emit(message)

    def _on_execute_cancelled(self) -> None:
        self._on_execute_failed("The run was stopped before it could store its summary; Resume finishes it.", None)

    def _on_task_finished(self) -> None:
        self.task = None
        self._set_busy(False)
        self._on_run_selected(None)  # the selected run's failed items and batches as stored now
        self.mark_stale()  # statuses and counts of the list come from the stored run

    def _on_create_failed(self, message: str, exc: object) -> None:
        self.progress.show_failure(message, resumable=False)
        self._set_busy(False)
        self.sig_run_failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self._busy
        run = self._selected_run()
        self.start_button.setEnabled(not busy and bool(self.set_combo.currentData())
                                     and bool(self.model_combo.currentData()))
        self.resume_button.setEnabled(not busy and run is not None and run["status"] != DONE)
        # Not while this window polls the run: stop watching first (Cancel), so nothing is read half-way.
        self.cancel_batches_button.setEnabled(not busy)
        self.grade_button.setEnabled(not busy and run is not None and run["kind"] == "answer"
                                     and run["counts"]["done"] > 0 and bool(self.grader_combo.currentData()))


PANEL = RunsPanel
