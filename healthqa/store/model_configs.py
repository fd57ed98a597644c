"""Model configurations: where and how to call a model, never its key."""

from __future__ import annotations

from ..domain import ModelConfig
from .workspace import Workspace, now


def save_model_config(ws: Workspace, config: ModelConfig) -> str:
    """Insert or update by name; returns the config's id."""
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


def get_model_config(ws: Workspace, name_or_id: str) -> ModelConfig | None:
    row = ws.query_one("SELECT config FROM model_configs WHERE name = ? OR id = ?", (name_or_id, name_or_id))
    return ModelConfig.model_validate_json(row["config"]) if row else None


def list_model_configs(ws: Workspace) -> list[ModelConfig]:
    return [ModelConfig.model_validate_json(r["config"])
            for r in ws.query("SELECT config FROM model_configs ORDER BY name")]


def delete_model_config(ws: Workspace, name: str) -> None:
    with ws.transaction({"model_configs"}) as conn:
        conn.execute("DELETE FROM model_configs WHERE name = ?", (name,))
