"""The main window: assembles panels, menus and the status bar; nothing else.

Panels come from the registry in ui/panels and are created the first time
they are shown. They talk to the window only through AppContext signals
(identity wanted, another panel wanted) and their `sig_status`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from healthqa.errors import HealthQAError
from healthqa.store import has_open_batches

from . import look, session
from .context import AppContext, RaterIdentity
from .dialogs.assign_dialog import AssignDialog
from .dialogs.bundle_dialogs import BUNDLE_FILTER, BundleExportDialog, ImportSummaryDialog
from .dialogs.bundle_flow import BundleImportFlow, OpenedBundle, opened_bundle
from .dialogs.export_dialog import ExportDialog
from .dialogs.identity import IdentityDialog
from .dialogs.prompts import Prompts
from .panels import Panel, PanelSpec, available_panels, panel_class
from .settings import AppSettings
from .widgets.plain_text import plain_label, plain_message_box, plain_tooltip

log = logging.getLogger(__name__)
WORKSPACE_FILTER = "HealthQA workspaces (*.healthqa);;All files (*)"
BUSY_DELAY_MS = 300  # show the busy bar only for work a person would notice (Anki's delay)


class BrokenPanel(Panel):
    """Stands in for a panel whose module failed to import or build: says so, and the rest works."""

    def __init__(self, ctx: AppContext, spec: PanelSpec, exc: BaseException):
        super().__init__(ctx)
        self.name, self.title = spec.name, spec.title
        label = plain_label(f"The {spec.title} panel could not be loaded.\n{type(exc).__name__}: {exc}\n"
                       f"The details are in the log.")
        label.setObjectName("emptyState")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        QVBoxLayout(self).addWidget(label)

    def refresh(self) -> None:
        pass


class MainWindow(QMainWindow):
    # -- init -------------------------------------------------------------------
    def __init__(self, ctx: AppContext, settings: AppSettings, *, interactive: bool = True):
        """`interactive=False` (screenshots, tests): never open a dialog; errors go to the status bar."""
        super().__init__()
        self.settings = settings
        self.interactive = interactive
        self.prompts = Prompts()  # file names and yes/no questions; tests put scripted answers here
        self.ctx: AppContext | None = None
        self._bundle: OpenedBundle | None = None  # set when the open workspace is a review bundle
        self._specs: list[PanelSpec] = available_panels()
        self._panels: dict[str, Panel] = {}
        self._build_sidebar()
        self._build_status_bar()
        self._build_menus()
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self._busy.setVisible(True))
        self.resize(1280, 800)
        self.setMinimumSize(QSize(960, 600))
        self.install_context(ctx)

    # -- public API -----------------------------------------------------------------
    def install_context(self, ctx: AppContext) -> None:
        """Show another workspace: the old one's panels finish their work and go; new ones are built lazily."""
        # Before the old workspace closes: a run or a stream must stop and be stored (as cancelled, so it
        # can be resumed), and grading must write what is pending, or they go on against a closed file.
        self._finish_panels()
        for panel in self._panels.values():
            self._stack.removeWidget(panel)
            panel.deleteLater()
        self._panels.clear()
        if self.ctx is not None:
            self._detach_context(self.ctx)
        self.ctx, self._bundle = ctx, None
        ctx.ops.sig_busy_changed.connect(self._on_busy_changed)
        ctx.ops.sig_error.connect(self.show_error)
        ctx.sig_rater_changed.connect(self._update_identity)
        ctx.sig_identity_requested.connect(self.ask_identity)
        ctx.sig_panel_requested.connect(self.show_panel)
        self._show_workspace_name(None)
        self._update_identity()
        self._rebuild_recent_menu()
        current = self._sidebar.currentRow()
        self._on_sidebar_row(current if current >= 0 else 0)
        # A review bundle says whose it is (and signs them in); any other workspace asks who is grading.
        ctx.ops.run(opened_bundle, ctx.ws, on_done=self._on_bundle_checked)
        # Provider batches sent before the app was closed: the Runs panel picks them up again.
        ctx.ops.run(has_open_batches, ctx.ws, on_done=self._on_open_batches)

    def _on_open_batches(self, waiting: bool) -> None:
        if waiting and any(s.name == "runs" for s in self._specs):
            self.panel("runs").refresh()  # its first load re-attaches to the live batches (off the GUI thread)

    def panel(self, name: str) -> Panel:
        """The panel of that name, created on first use."""
        if name not in self._panels:
            spec = next(s for s in self._specs if s.name == name)
            try:
                widget = panel_class(spec)(self.ctx)
            except Exception as exc:  # noqa: BLE001 - one broken panel must not take the window down
                log.exception("the %s panel could not be loaded", spec.title)
                widget = BrokenPanel(self.ctx, spec, exc)
            widget.sig_status.connect(self.statusBar().showMessage)
            self._panels[name] = widget
            self._stack.addWidget(widget)
        return self._panels[name]

    def show_panel(self, name: str) -> Panel:
        row = next(i for i, s in enumerate(self._specs) if s.name == name)
        self._sidebar.setCurrentRow(row)  # -> _on_sidebar_row
        return self._panels[name]

    def current_panel(self) -> Panel | None:
        widget = self._stack.currentWidget()
        return widget if isinstance(widget, Panel) else None

    def panel_names(self) -> list[str]:
        return [s.name for s in self._specs]

    def created_panels(self) -> list[Panel]:
        return list(self._panels.values())

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        if self.interactive:
            box = plain_message_box(QMessageBox.Icon.Warning, "HealthQA", message, QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # not exec(): the window keeps running
        else:
            log.warning("%s", message)

    def ask_identity(self) -> None:
        if not self.interactive:
            return
        self.ctx.ops.run(session.clinicians, self.ctx.ws, on_done=self._open_identity_dialog)

    def open_export_dialog(self) -> ExportDialog:
        dialog = ExportDialog(self.ctx, self.prompts, self)
        dialog.sig_exported.connect(lambda message: self.statusBar().showMessage(message, 15000))
        return self._open_dialog(dialog)

    def open_bundle_export_dialog(self) -> BundleExportDialog:
        dialog = BundleExportDialog(self.ctx, self.prompts, self)
        dialog.sig_exported.connect(lambda report: self.statusBar().showMessage(report.summary(), 15000))
        return self._open_dialog(dialog)

    def open_assign_dialog(self) -> AssignDialog:
        dialog = AssignDialog(self.ctx, self)
        dialog.sig_assigned.connect(lambda report: self.statusBar().showMessage(report.summary(), 15000))
        return self._open_dialog(dialog)

    def import_bundle_file(self, path: str | Path) -> BundleImportFlow:
        """Check, (ask before merging a foreign bundle,) merge, then show what was merged."""
        flow = BundleImportFlow(self.ctx, self.prompts, self)
        flow.sig_done.connect(self._on_bundle_imported)
        flow.sig_failed.connect(self.show_error)
        flow.sig_cancelled.connect(lambda: self.statusBar().showMessage("Bundle not imported.", 5000))
        flow.start(path)
        return flow

    def open_workspace(self, path: str | Path) -> bool:
        try:
            ctx = session.open_context(path, self.settings)
        except HealthQAError as exc:
            self.show_error(str(exc))
            return False
        old = self.ctx
        self.install_context(ctx)
        old.close()
        return True

    # -- Qt overrides ---------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._finish_panels()
        if self.ctx is not None:
            self.settings.set_last_panel(self._specs[max(self._sidebar.currentRow(), 0)].name)
            self.ctx.close()
        super().closeEvent(event)

    # -- private: building ---------------------------------------------------------------
    def _build_sidebar(self) -> None:
        self._sidebar = QListWidget()
        self._sidebar.setObjectName("sidebar")
        self._sidebar.setIconSize(QSize(20, 20))
        self._sidebar.setFixedWidth(190)
        for spec in self._specs:
            item = QListWidgetItem(look.icon(spec.icon), spec.title)
            item.setToolTip(f"{spec.title} panel")
            self._sidebar.addItem(item)
        self._sidebar.currentRowChanged.connect(self._on_sidebar_row)
        brand = plain_label("HealthQA")
        brand.setObjectName("brand")
        self._identity_label = plain_label()
        self._identity_label.setWordWrap(True)
        self._identity_button = QPushButton(look.icon("person"), "Change clinician…")
        self._identity_button.clicked.connect(self.ask_identity)
        footer = QWidget()
        footer.setObjectName("sidebarFooter")
        footer_layout = QVBoxLayout(footer)
        footer_layout.setContentsMargins(12, 8, 12, 12)
        footer_layout.addWidget(self._identity_label)
        footer_layout.addWidget(self._identity_button)
        side = QWidget()
        side.setFixedWidth(190)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(brand)
        side_layout.addWidget(self._sidebar, 1)
        side_layout.addWidget(footer)
        self._stack = QStackedWidget()
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(self._stack, 1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self._busy = QProgressBar()
        self._busy.setRange(0, 0)  # indeterminate: the core gives no percentage for a single call
        self._busy.setFixedWidth(120)
        self._busy.setVisible(False)
        self._busy.setAccessibleName("Working")
        self._workspace_label = plain_label()
        bar = self.statusBar()
        bar.addPermanentWidget(self._busy)
        bar.addPermanentWidget(self._workspace_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&New workspace…", self._on_new_workspace, QKeySequence.StandardKey.New)
        self._add_action(file_menu, "&Open workspace…", self._on_open_workspace, QKeySequence.StandardKey.Open)
        self._recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._add_action(file_menu, "&Import questions, results or Inspect log…", self._on_import, "Ctrl+I")
        self._add_action(file_menu, "&Export…", self.open_export_dialog, "Ctrl+E")
        file_menu.addSeparator()
        bundles = file_menu.addMenu("Review &bundles")
        self._add_action(bundles, "&Export bundle for a clinician…", self.open_bundle_export_dialog)
        self._add_action(bundles, "&Import graded bundle…", self._on_import_bundle)
        self._add_action(bundles, "&Open bundle to grade offline…", self._on_open_bundle)
        self._add_action(file_menu, "&Assign answers to clinicians…", self.open_assign_dialog)
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        for i, spec in enumerate(self._specs):
            self._add_action(view_menu, spec.title, lambda checked=False, n=spec.name: self.show_panel(n),
                             f"Ctrl+{i + 1}" if i < 9 else None)
        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&Who is grading…", self.ask_identity)
        self._add_action(help_menu, "&About HealthQA", self._on_about)

    def _add_action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _rebuild_recent_menu(self) -> None:
        self._recent_menu.clear()
        for path in self.settings.recent_workspaces():
            self._add_action(self._recent_menu, path, lambda checked=False, p=path: self.open_workspace(p))
        self._recent_menu.setEnabled(bool(self.settings.recent_workspaces()))

    # -- private: workspaces -------------------------------------------------------------------
    def _finish_panels(self) -> None:
        """Every built panel's `before_close` (stop runs and streams, write what is pending)."""
        for panel in self._panels.values():
            closer = getattr(panel, "before_close", None)
            if closer is None:
                continue
            try:
                closer()
            except Exception:  # noqa: BLE001 - one panel failing must not keep the others running
                log.exception("the %s panel failed to finish its work", panel.title)

    def _show_workspace_name(self, bundle: OpenedBundle | None) -> None:
        name = self.ctx.ws.path.name
        if bundle is None:
            self.setWindowTitle(f"HealthQA — {name}")
            self._workspace_label.setText(f"Workspace: {name}")
        else:
            self.setWindowTitle(f"HealthQA — review bundle for {bundle.rater} — {name}")
            self._workspace_label.setText(f"Review bundle for {bundle.rater}: {name}")
        self._workspace_label.setToolTip(plain_tooltip(str(self.ctx.ws.path)))

    def _on_bundle_checked(self, bundle: OpenedBundle | None) -> None:
        if bundle is None:
            if self.ctx.rater is None and self.interactive:
                self.ask_identity()
            return
        self._bundle = bundle
        self._show_workspace_name(bundle)
        if bundle.identity is not None and self.ctx.rater != bundle.identity:
            # Grades under any other name would be refused when the bundle is imported back.
            self.settings.remember_rater(self.ctx.ws.workspace_id, bundle.identity.id)
            self.ctx.set_rater(bundle.identity)
        self.statusBar().showMessage(f"Review bundle for {bundle.rater}: {bundle.answers} answers to grade offline. "
                                     "Import it back with File → Review bundles → Import graded bundle…", 15000)

    def _detach_context(self, ctx: AppContext) -> None:
        """The old workspace's signals no longer reach the window (it closes right after)."""
        ctx.ops.sig_busy_changed.disconnect(self._on_busy_changed)
        ctx.ops.sig_error.disconnect(self.show_error)
        ctx.sig_rater_changed.disconnect(self._update_identity)
        ctx.sig_identity_requested.disconnect(self.ask_identity)
        ctx.sig_panel_requested.disconnect(self.show_panel)
        self._on_busy_changed(False)  # its pending calls are drained without a "not busy" notice

    # -- private: handlers ------------------------------------------------------------------
    def _on_sidebar_row(self, row: int) -> None:
        if not 0 <= row < len(self._specs):
            return
        if self._sidebar.currentRow() != row:
            self._sidebar.setCurrentRow(row)
            return
        panel = self.panel(self._specs[row].name)
        self._stack.setCurrentWidget(panel)
        if not self._sidebar.hasFocus():  # chosen by menu, shortcut or at start: keys go to the panel
            panel.setFocus()

    def _on_busy_changed(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self._busy.setVisible(False)

    def _update_identity(self) -> None:
        rater = self.ctx.rater
        self._identity_label.setText(f"Grading as\n{rater.describe()}" if rater else "No clinician signed in")
        self._identity_button.setText("Change clinician…" if rater else "Sign in…")

    def _open_identity_dialog(self, known: list[RaterIdentity]) -> None:
        dialog = IdentityDialog(known, self.ctx.rater, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._on_identity_given(*dialog.values()))
        dialog.open()

    def _on_identity_given(self, name: str, role: str, specialty: str) -> None:
        ctx = self.ctx
        if self._bundle is not None and name != self._bundle.rater:
            self.show_error(f"This review bundle is for {self._bundle.rater}: grades under another name could not "
                            "be imported back. Grade as them, or ask for a bundle of your own.")
            return

        def signed_in(rater: RaterIdentity) -> None:
            self.settings.remember_rater(ctx.ws.workspace_id, rater.id)
            ctx.set_rater(rater)
            self.statusBar().showMessage(f"Grading as {rater.describe()}", 5000)

        ctx.ops.run(session.sign_in, ctx.ws, name, role, specialty, on_done=signed_in, owner=self)

    def _on_new_workspace(self) -> None:
        path = self.prompts.save_file(self, "New workspace", "workspace.healthqa", WORKSPACE_FILTER)
        if path:
            if not path.endswith(".healthqa"):
                path += ".healthqa"
            if Path(path).exists():
                self.show_error(f"{path} exists already; open it with File → Open workspace.")
                return
            self.open_workspace(path)

    def _on_open_workspace(self) -> None:
        path = self.prompts.open_file(self, "Open workspace", WORKSPACE_FILTER)
        if path:
            self.open_workspace(path)

    def _on_import(self) -> None:
        panel = self.show_panel("questions")
        panel.choose_and_import()

    def _open_dialog(self, dialog):
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(): the window keeps running
        return dialog

    def _on_import_bundle(self) -> None:
        path = self.prompts.open_file(self, "Import graded bundle", BUNDLE_FILTER)
        if path:
            self.import_bundle_file(path)

    def _on_open_bundle(self) -> None:
        path = self.prompts.open_file(self, "Open bundle to grade offline", BUNDLE_FILTER)
        if path:
            self.open_workspace(path)

    def _on_bundle_imported(self, report) -> None:
        self.statusBar().showMessage(report.summary().splitlines()[0], 15000)
        self._open_dialog(ImportSummaryDialog(report, self))

    def _on_about(self) -> None:
        from healthqa import __version__

        QMessageBox.about(self, "About HealthQA",
                          f"HealthQA {__version__}\n\nClinicians grade language-model health answers "
                          "against HealthBench-style rubrics, blinded to the model.")
