"""The Agreement panel's widgets and their layout (no behaviour: that is in agreement.py).

Like `grading_layout.GradingLayout`, `AgreementLayout._build` creates the
widgets as attributes of the panel (tests and behaviour reach them there),
one method per section:

- the header: title, model and set filters, report, recompute;
- the overview: the pair heatmap | all raters together and the model
  graders' standing, above the lower card (disagreement list, by axis, by theme);
- the adjudication view, and the notice shown when there is nothing to show.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QFrame, QHBoxLayout, QHeaderView,
                               QPushButton, QStackedWidget, QTableView, QVBoxLayout, QWidget)

from .. import look
from ..agreement_format import BREAKDOWNS, GROUP_STATISTICS, PAIR_STATISTICS
from ..models.agreement import DisagreementModel, GroupStatisticsModel
from ..widgets.card import card
from ..widgets.combo import filter_combo
from ..widgets.grader_standing import GraderStanding
from ..widgets.heatmap import RaterHeatmap
from ..widgets.panel_header import page_layout, panel_header
from ..widgets.plain_text import plain_label
from ..widgets.row_table import row_table
from ..widgets.splitter import two_panes
from .adjudication_view import AdjudicationView


class AgreementLayout:
    """Mixin for AgreementPanel: builds its widgets."""

    def _build(self) -> None:
        header = self._build_header()
        heat_card = self._build_heat_card()
        overall_card = self._build_overall_card()
        standing_card = self._build_standing_card()

        right = QWidget()  # all raters together, above the model graders' standing
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(10)
        right_layout.addWidget(overall_card)
        right_layout.addWidget(standing_card, 1)
        figures = two_panes(Qt.Orientation.Horizontal, heat_card, right, sizes=[440, 620])
        overview = two_panes(Qt.Orientation.Vertical, figures, self._build_lower_card(), sizes=[380, 320])

        self.adjudication = AdjudicationView()
        self.adjudication.sig_back.connect(self.show_overview)
        self.adjudication.sig_step.connect(lambda step: self.open_item(self._position + step))
        self.adjudication.sig_record.connect(self._record)

        self.notice = plain_label("")
        self.notice.setObjectName("emptyState")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(overview)
        self.pages.addWidget(self.adjudication)
        self.pages.addWidget(self.notice)
        self._overview = overview
        page_layout(self, header).addWidget(self.pages, 1)
        self.setFocusProxy(self.list_view)

    def _build_header(self) -> QHBoxLayout:
        self.subtitle = plain_label("")
        self.model_combo = filter_combo("Answers of model", 140, self._reload)
        self.set_combo = filter_combo("Question set", 130, self._reload)
        self.report_button = QPushButton("Save report…")
        self.report_button.setToolTip("The researcher's report, as a self-contained HTML or a PDF file")
        self.report_button.clicked.connect(self._save_report)
        self.refresh_button = QPushButton(look.icon("refresh"), "Recompute")
        self.refresh_button.clicked.connect(self._reload)
        return panel_header("Agreement", self.subtitle, "Model", self.model_combo, "Set", self.set_combo,
                            self.report_button, self.refresh_button, spacing=10)

    def _build_heat_card(self) -> QFrame:
        self.statistic_combo = QComboBox()
        self.statistic_combo.setAccessibleName("Statistic in the heatmap")
        for key, label in PAIR_STATISTICS.items():
            self.statistic_combo.addItem(label, key)
        self.heatmap = RaterHeatmap()
        self.heatmap.setAccessibleName("Agreement between each pair of raters")
        self.heatmap.sig_pair_clicked.connect(self._on_pair_clicked)
        self.statistic_combo.currentIndexChanged.connect(
            lambda _: self.heatmap.set_statistic(self.statistic_combo.currentData()))
        heat_card, heat_layout = card("EACH PAIR OF RATERS", self.statistic_combo)
        heat_layout.addWidget(self.heatmap, 1)
        heat_note = plain_label("Each cell: the value on the items both raters judged, and how many (n). "
                           "Click a cell to list that pair's disagreements.")
        heat_note.setObjectName("muted")
        heat_note.setWordWrap(True)
        heat_layout.addWidget(heat_note)
        return heat_card

    def _build_overall_card(self) -> QFrame:
        self.tiles = {key: StatTile(GROUP_STATISTICS[key]) for key in GROUP_STATISTICS}
        tiles_row = QHBoxLayout()
        tiles_row.setSpacing(8)
        for tile in self.tiles.values():
            tiles_row.addWidget(tile, 1)
        self.facts = plain_label("")
        self.facts.setObjectName("muted")
        overall_card, overall_layout = card("ALL RATERS TOGETHER · 95% INTERVALS")
        overall_layout.addLayout(tiles_row)
        overall_layout.addWidget(self.facts)
        return overall_card

    def _build_standing_card(self) -> QFrame:
        self.standing = GraderStanding()
        self.standing.setAccessibleName("Model graders among clinicians")
        self.standing_text = plain_label("")
        self.standing_text.setWordWrap(True)
        self.standing_text.setTextFormat(Qt.TextFormat.PlainText)
        standing_card, standing_layout = card("MODEL GRADERS AMONG CLINICIANS (MACRO-F1)")
        standing_layout.addWidget(self.standing)
        standing_layout.addWidget(self.standing_text)
        standing_layout.addStretch(1)
        return standing_card

    def _build_lower_card(self) -> QFrame:
        """One of: the disagreement list, agreement by axis, agreement by theme; buttons switch."""
        self.disagreements = DisagreementModel(self)
        self.list_view = self._table(self.disagreements, "Disagreements")
        columns = self.list_view.horizontalHeader()
        for column, width in ((0, 170), (1, 150)):  # ids and model names can be long: elided, the criterion wins
            columns.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            columns.resizeSection(column, width)
        columns.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.list_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list_view.activated.connect(lambda index: self.open_item(index.row()))
        self.list_view.doubleClicked.connect(lambda index: self.open_item(index.row()))
        self.group_models = {key: GroupStatisticsModel(self) for key in BREAKDOWNS}
        self.group_tables = {}
        for key, model in self.group_models.items():
            table = self._table(model, f"Agreement {BREAKDOWNS[key].lower()} with 95% intervals")
            table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            self.group_tables[key] = table
        self.lower = QStackedWidget()
        self.lower.addWidget(self.list_view)
        for table in self.group_tables.values():
            self.lower.addWidget(table)
        self.view_buttons = QButtonGroup(self)
        self.view_buttons.setExclusive(True)
        self.list_button = QPushButton("Disagreements")
        switch = QHBoxLayout()
        switch.setSpacing(4)
        for k, (button, page) in enumerate([(self.list_button, self.list_view)] + [
                (QPushButton(BREAKDOWNS[key]), self.group_tables[key]) for key in BREAKDOWNS]):
            button.setCheckable(True)
            button.setAccessibleName(f"Show {button.text().lower()}")
            self.view_buttons.addButton(button, k)
            switch.addWidget(button)
        self.view_buttons.idToggled.connect(self._on_view_toggled)
        self.pair_button = QPushButton("")
        self.pair_button.setToolTip("Show the disagreements of every pair again")
        self.pair_button.clicked.connect(lambda: self._set_pair_filter(None))
        self.pair_button.setVisible(False)
        self.open_button = QPushButton("Adjudicate…")
        self.open_button.setProperty("primary", True)
        self.open_button.clicked.connect(lambda: self.open_item(self.list_view.currentIndex().row()))
        list_card = QFrame()
        list_card.setObjectName("card")
        list_layout = QVBoxLayout(list_card)
        list_layout.setContentsMargins(14, 10, 14, 12)
        list_header = QHBoxLayout()
        list_header.addLayout(switch)
        list_header.addSpacing(8)
        list_header.addWidget(self.pair_button)
        list_header.addStretch(1)
        list_header.addWidget(self.open_button)
        list_layout.addLayout(list_header)
        list_layout.addWidget(self.lower, 1)
        self.list_button.setChecked(True)
        return list_card

    @staticmethod
    def _table(model, name: str) -> QTableView:
        table = row_table(model)
        table.setAccessibleName(name)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setDefaultSectionSize(28)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table


class StatTile(QFrame):
    """One statistic as a card: its name, the value large, the interval (three plain labels, no markup)."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setAccessibleName(name)
        self.setMinimumHeight(76)
        self.name = plain_label(name, "muted")
        self.value = plain_label()
        self.value.setStyleSheet("font-size: 15pt; font-weight: 700;")
        self.interval = plain_label("", "muted")
        self.note = plain_label(wrap=True)  # e.g. too many undefined resamples: in words, not colour alone
        self.note.setStyleSheet(f"color: {look.THEME['disagree']};")
        self.note.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(2)
        for label in (self.name, self.value, self.interval, self.note):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)

    def show_value(self, value: str, interval: str, note: str | None = None) -> None:
        self.value.setText(value)
        self.interval.setText(interval)
        self.note.setText(f"⚠ {note}" if note else "")
        self.note.setVisible(bool(note))

    def text(self) -> str:
        """What the tile says, as one line (tests, screen readers)."""
        return " ".join(t for t in (self.name.text(), self.value.text(), self.interval.text(), self.note.text()) if t)
