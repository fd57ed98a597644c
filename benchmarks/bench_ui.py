"""Desktop app speed on a large workspace; prints figures.

    python benchmarks/bench_ui.py                      # the figures
    python benchmarks/bench_ui.py --screenshots docs/screenshots   # also the docs' screenshots

1. `healthqa-desktop --screenshot` on a workspace of 5,000 questions and
   5,000 answers (built with the importer from a generated file): wall time
   from process start to the saved PNG. Target: under 3 s.
2. Moving to the next answer in the Grading panel (key → answer on screen),
   median and max over 50 moves. Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from healthqa import review, store  # noqa: E402
from healthqa.formats.healthbench import import_healthbench  # noqa: E402
from tests.ui.factories import build_showcase, consensus_like_row, synthetic_rows, write_jsonl  # noqa: E402

SIZE = 5000
MOVES = 50
CLINICIAN = "Dr. Bench"


def build_large(folder: Path) -> Path:
    path = folder / "large.healthqa"
    source = write_jsonl(folder / "large.jsonl", synthetic_rows(SIZE, ["model-a", "model-b", "model-c"]))
    started = time.perf_counter()
    with store.Workspace(path) as ws:
        report = import_healthbench(ws, source, set_name="Large")
        store.ensure_rater(ws, CLINICIAN)
    print(f"built workspace: {report.questions_created} questions, {report.answers_created} answers "
          f"(import {time.perf_counter() - started:.1f} s)")
    return path


def app_process(workspace: Path, png: Path, settings: Path, *extra: str) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEALTHQA_SETTINGS": str(settings)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ui.app", "--workspace", str(workspace), "--screenshot", str(png),
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"--screenshot failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def bench_screenshot(workspace: Path, folder: Path) -> None:
    settings = folder / "settings.ini"
    for panel, extra in (("questions", ()), ("grading", ("--rater", CLINICIAN)), ("results", ())):
        times = [app_process(workspace, folder / f"{panel}.png", settings, "--panel", panel, *extra)
                 for _ in range(3)]
        verdict = "ok" if min(times) < 3.0 else "SLOW"
        print(f"--screenshot --panel {panel:<9} {SIZE} questions/answers: best {min(times):.2f} s, "
              f"worst {max(times):.2f} s (target < 3 s: {verdict})")


def run_until(signal, start, count: int = 1, timeout_ms: int = 20000) -> list:
    """Call start(), then run the event loop until `signal` fired `count` times."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, seen = QEventLoop(), []

    def on_signal(*args):
        seen.append(args)
        if len(seen) >= count:
            loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(timeout_ms, loop.quit)
    start()
    if len(seen) < count:
        loop.exec()
    signal.disconnect(on_signal)
    return seen


def bench_next_answer(workspace: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from ui import look
    from ui.context import AppContext, RaterIdentity
    from ui.panels.grading import GradingPanel

    app = QApplication.instance() or QApplication([])
    look.apply(app)
    ws = store.Workspace(workspace)
    ctx = AppContext(ws, rater=RaterIdentity(store.rater_id_by_name(ws, CLINICIAN), CLINICIAN))
    panel = GradingPanel(ctx)
    panel.resize(1090, 760)
    run_until(panel.sig_answer_shown, panel.show)
    times = []
    for _ in range(MOVES):
        started = time.perf_counter()
        run_until(panel.sig_answer_shown, lambda: QTest.keyClick(panel.checklist, Qt.Key.Key_Right))
        app.processEvents()  # let the new answer paint before the clock stops
        times.append((time.perf_counter() - started) * 1000)
    median, worst = statistics.median(times), max(times)
    verdict = "ok" if worst < 50 else ("SLOW (max)" if median < 50 else "SLOW")
    print(f"next answer in Grading ({len(panel.queue)} in queue): median {median:.1f} ms, max {worst:.1f} ms "
          f"over {MOVES} moves (target < 50 ms: {verdict})")
    ctx.close()


def docs_screenshots(out: Path, folder: Path) -> None:
    """The panels on an invented workspace (the demo set plus invented verdicts), for docs/screenshots."""
    from PySide6.QtWidgets import QApplication

    from ui import look
    from ui.main_window import MainWindow
    from ui.session import open_context, sign_in
    from ui.settings import AppSettings

    out.mkdir(parents=True, exist_ok=True)
    workspace = build_showcase(folder / "showcase.healthqa")
    settings_path = folder / "docs-settings.ini"
    for panel in ("questions", "grading", "results", "agreement"):
        app_process(workspace, out / f"{panel}.png", settings_path, "--panel", panel, "--rater", "Dr. Amara Okafor")
        print(f"saved {out / f'{panel}.png'}")
    # the reveal after submitting: the first answer of the clinician's queue, submitted with the showcase
    app = QApplication.instance() or QApplication([])
    look.apply(app)
    settings = AppSettings.at(settings_path)
    ctx = open_context(workspace, settings)
    ctx.rater = sign_in(ctx.ws, "Dr. Amara Okafor")
    window = MainWindow(ctx, settings, interactive=False)
    window.resize(1280, 800)
    grading = window.show_panel("grading")
    run_until(grading.sig_answer_shown, window.show)
    shown = next(i for i, answer_id in enumerate(grading.queue)
                 if review.is_submitted(ctx.ws, answer_id, ctx.rater.id)
                 and review.reveal(ctx.ws, answer_id, ctx.rater.id).disagreements)
    run_until(grading.sig_answer_shown, lambda: grading.open_index(shown))
    grading.show_reveal_summary()
    row = next((i for i, c in enumerate(grading.view.criteria) if c.id in grading.reveal.disagreements), 0)
    grading.checklist.set_current(row)
    app.processEvents()
    window.grab().save(str(out / "grading-reveal.png"))
    print(f"saved {out / 'grading-reveal.png'}")
    # Results > Compare: the two demo models from the model grader
    from tests.ui.factories import GRADER
    from ui.panels.results import COMPARE

    results = None

    def show_results():
        nonlocal results
        results = window.show_panel("results")

    run_until(ctx.ops.sig_idle, show_results)  # its choices loaded and its first scores shown
    run_until(results.compare.sig_compared, lambda: (results.choose_rater(GRADER), results.show_view(COMPARE)))
    models = store.list_models(ctx.ws)
    run_until(results.compare.sig_compared, lambda: results.compare.choose(models[0], models[1]))
    app.processEvents()  # the new texts' sizes reach the layout before the picture
    window.grab().save(str(out / "compare.png"))
    print(f"saved {out / 'compare.png'}")
    window.close()
    long_criteria_screenshot(out, folder)


def long_criteria_screenshot(out: Path, folder: Path) -> None:
    """Grading a question whose criteria are long and templated (like HealthBench's consensus criteria)."""
    workspace = folder / "long-criteria.healthqa"
    with store.Workspace(workspace) as ws:
        import_healthbench(ws, write_jsonl(folder / "long-criteria.jsonl", [consensus_like_row()]))
    png = out / "grading-long-criteria.png"
    app_process(workspace, png, folder / "long-criteria-settings.ini", "--panel", "grading",
                "--rater", "Dr. Amara Okafor")
    print(f"saved {png}")


def quiet_offscreen_notices() -> None:
    """The offscreen platform says it cannot propagate size hints at every window; that is noise here."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", metavar="DIR", help="also save the docs' screenshots into DIR")
    parser.add_argument("--no-figures", action="store_true", help="only the screenshots")
    args = parser.parse_args()
    quiet_offscreen_notices()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.screenshots:
            docs_screenshots(Path(args.screenshots), folder)
        if args.no_figures:
            return
        workspace = build_large(folder)
        bench_screenshot(workspace, folder)
        bench_next_answer(workspace)


if __name__ == "__main__":
    main()
