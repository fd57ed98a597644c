"""Reusable widgets: safe Markdown view, charts, key legend, checklist rows, flow layout."""
