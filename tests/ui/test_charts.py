"""Chart widgets: ticks, and what they draw (hit areas carry the values as text)."""

from PySide6.QtGui import QPixmap

from ui.widgets.charts import BarChart, Point, ScatterChart, Series, nice_ticks


def test_nice_ticks():
    assert nice_ticks(0, 1, 5) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(0, 930, 5) == [0, 250, 500, 750, 1000]
    assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1.0]


def test_bar_chart_draws_each_value_with_its_error(qtbot):
    chart = BarChart("Score by theme")
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.set_data(["hedging", "emergency referrals"], [Series("m1", [0.5, None], [0.1, None]),
                                                        Series("m2", [0.75, 0.2], [None, 0.05])])
    chart.render(QPixmap(chart.size()))
    tips = [tip for _, tip in chart._hits]
    assert tips == ["hedging — m1: 0.50 ± 0.10", "hedging — m2: 0.75", "emergency referrals — m2: 0.20 ± 0.05"]


def test_scatter_chart_and_empty_states(qtbot):
    chart = ScatterChart("Score against length", x_label="Mean output tokens")
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.render(QPixmap(chart.size()))
    assert chart._hits == []
    chart.set_points([Point("m1", 450, 0.6, 0.05)])
    chart.render(QPixmap(chart.size()))
    assert chart._hits[0][1] == "m1: score 0.60 ± 0.05, 450 mean output tokens"
