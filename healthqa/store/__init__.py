"""The SQLite workspace: schema, migrations and the queries the app makes."""

from .batches import (BATCH_TABLES, batch_details, batch_item_attempts, batch_rows, claim_poller, drop_batch,
                      has_open_batches, live_item_ids, open_batches, release_poller, sendable_count, start_batch,
                      update_batch)
from .drafts import answer_drafts
from .grades import (ADJUDICATED_RATER, add_answer, add_new_grades, answer_filter, answer_rows, ensure_rater, get_review, grade_history, grades_for_answer,
                     list_models, list_raters, rater_id_by_name, rename_clinician, save_review, set_grade, text_hash)
from .lookups import check_rater_names, rater_id_or_error, set_id_or_error
from .model_configs import (delete_model_config, get_model_config, list_model_configs,
                            remember_learned, save_model_config)
from .questions import (ATTACHMENT_PREFIX, ImageDataError, QuestionConflict, criteria_rows, decode_data_url, ensure_set, get_question, list_sets, load_conversation,
                        question_id_by_prompt_id, question_rows, set_id_by_name, update_rubric, upsert_question)
from .schema import MIGRATIONS, SCHEMA_VERSION, apply_migration
from .workspace import Workspace, WorkspaceError, now, open_workspace

__all__ = [name for name in dir() if not name.startswith("_")]
