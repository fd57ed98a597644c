"""Entry point of the desktop app (`healthqa-desktop`).

    healthqa-desktop [--workspace PATH] [--panel NAME] [--rater NAME]
    healthqa-desktop --screenshot out.png [--panel grading]   # render 1280x800, save, exit

An empty workspace gets the bundled demo set, imported in the background.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from pathlib import Path

START = time.perf_counter()  # before the Qt imports, for the start-up figure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthqa-desktop", description="HealthQA desktop app")
    parser.add_argument("--workspace", metavar="PATH", help="workspace file (default: the one in your data folder)")
    parser.add_argument("--panel", metavar="NAME", help="the panel to show first (questions, grading, results, …)")
    parser.add_argument("--rater", metavar="NAME", help="sign grades as this clinician (no question asked)")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window once loaded, save it, exit")
    parser.add_argument("--size", default="1280x800", help="window size for --screenshot (default 1280x800)")
    return parser


def freeze_long_lived_objects() -> None:
    """Keep the cyclic garbage collector's full passes away from the objects that live as long as the app.

    A full collection scans every tracked object of the process while holding
    the GIL, whichever thread triggers it. A run allocates quickly on the async
    worker's thread, so full passes come often, and with the window's objects
    (modules, widgets: ~80k in all) each one stopped the GUI thread for 30-90 ms
    (benchmarks/bench_gui_responsiveness.py). gc.freeze() moves every object that
    exists now out of the collector's sight; later passes scan only what was made
    since: panels opened later and the HTTP stack add ~5k objects, a 2 ms pass.
    Call it once the main window is built.
    """
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # never show a window for a screenshot

    from PySide6.QtWidgets import QApplication

    from healthqa.errors import HealthQAError
    from healthqa.paths import APP_NAME, default_workspace

    from . import look, session
    from .main_window import MainWindow
    from .settings import AppSettings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("io.healthqa.HealthQA")  # lets Wayland docks match the menu entry and its icon
    look.apply(app)
    settings = AppSettings()
    path = Path(args.workspace) if args.workspace else default_workspace()
    try:
        ctx = session.open_context(path, settings)
    except HealthQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rater:
        ctx.rater = session.sign_in(ctx.ws, args.rater)
        settings.remember_rater(ctx.ws.workspace_id, ctx.rater.id)
    window = MainWindow(ctx, settings, interactive=not args.screenshot)
    panel = args.panel or (None if args.screenshot else settings.last_panel())
    if panel:
        if panel not in window.panel_names():
            print(f"error: no panel {panel!r} (panels: {', '.join(window.panel_names())})", file=sys.stderr)
            ctx.close()
            return 2
        window.show_panel(panel)
    freeze_long_lived_objects()  # the window and its first panel exist: see why in the function
    ctx.ops.run(session.import_demo_if_empty, ctx.ws, on_done=lambda report: report and window.statusBar()
                .showMessage(f"Imported the demo set: {report.rows} rows", 8000))
    if args.screenshot:
        from .screenshot import Screenshot

        width, height = (int(v) for v in args.size.lower().split("x"))
        shot = Screenshot(window, Path(args.screenshot), (width, height), started=START)
        shot.start()
        app.exec()
        return shot.exit_code
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
