"""Where HealthQA keeps and finds things, frozen (PyInstaller) or not.

Every data folder the app loads at run time is located here, so the
installer spec and the code agree on one list.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "HealthQA"
WORKSPACE_ENV = "HEALTHQA_WORKSPACE"
DATA_FOLDERS = ("rubrics", "resources")  # shipped beside the code; the installer bundles each


def app_root() -> Path:
    """The folder holding rubrics/ and resources/: the source tree, or the frozen bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) if frozen else Path(__file__).resolve().parent.parent


def data_path(*parts: str) -> Path:
    if parts and parts[0] not in DATA_FOLDERS:
        raise ValueError(f"{parts[0]} is not a shipped data folder")
    return app_root().joinpath(*parts)


def demo_set_path() -> Path:
    return data_path("rubrics", "demo.jsonl")


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_workspace() -> Path:
    """$HEALTHQA_WORKSPACE, else the workspace in the user's data folder."""
    env = os.environ.get(WORKSPACE_ENV)
    return Path(env) if env else user_data_dir() / "workspace.healthqa"
