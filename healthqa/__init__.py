"""HealthQA core: Qt-free, so scripts and the desktop app share it."""

__version__ = "0.1.0"
