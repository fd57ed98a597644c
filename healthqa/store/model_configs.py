"""Model configurations: where and how to call a model, never its key."""

from __future__ import annotations

import json

from ..domain import ModelConfig
from .workspace import Workspace, now


def save_model_config(ws: Workspace, config: ModelConfig) -> str:
    """Insert or update by name; returns the config's id. What the config
    learned from servers (`learned`) is kept unless the model id changed."""
    existing = ws.query_one("SELECT id FROM model_configs WHERE name = ?", (config.name,))
    if existing:
        config = config.model_copy(update={"id": existing["id"]})
    with ws.transaction({"model_configs"}) as conn:
        conn.execute(
            """INSERT INTO model_configs (id, name, config, created_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config""",
            (config.id, config.name, config.model_dump_json(), now()),
        )
    return config.id


def remember_learned(ws: Workspace, config_id: str, model: str, caps: dict, note: str) -> None:
    """Record that `model` refused a parameter: `caps` are capability overrides
    (providers/capabilities.py) merged into what was learned before, `note`
    says what changed, for the user. One transaction; concurrent workers that
    learn the same thing write the same result."""
    with ws.transaction({"model_configs"}) as conn:
        row = conn.execute("SELECT learned FROM model_configs WHERE id = ?", (config_id,)).fetchone()
        if row is None:
            return
        learned = _learned(row[0], model)
        learned["caps"].update(caps)
        if note not in learned["notes"]:
            learned["notes"].append(note)
        conn.execute("UPDATE model_configs SET learned = ? WHERE id = ?", (json.dumps(learned), config_id))


def _learned(text: str | None, model: str) -> dict:
    try:
        learned = json.loads(text) if text else None
    except ValueError:
        learned = None
    if not isinstance(learned, dict) or learned.get("model") != model:
        return {"model": model, "caps": {}, "notes": []}  # learned about another model: void
    learned.setdefault("caps", {})
    learned.setdefault("notes", [])
    return learned


def _config(row) -> ModelConfig:
    config = ModelConfig.model_validate_json(row["config"])
    learned = _learned(row["learned"], config.model)
    config.learned, config.learned_notes = learned["caps"], learned["notes"]
    return config


def get_model_config(ws: Workspace, name_or_id: str) -> ModelConfig | None:
    row = ws.query_one("SELECT config, learned FROM model_configs WHERE name = ? OR id = ?",
                       (name_or_id, name_or_id))
    return _config(row) if row else None


def list_model_configs(ws: Workspace) -> list[ModelConfig]:
    return [_config(r) for r in ws.query("SELECT config, learned FROM model_configs ORDER BY name")]


def delete_model_config(ws: Workspace, name: str) -> None:
    with ws.transaction({"model_configs"}) as conn:
        conn.execute("DELETE FROM model_configs WHERE name = ?", (name,))
