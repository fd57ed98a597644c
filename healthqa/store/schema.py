"""Workspace schema and its migrations.

Each entry of MIGRATIONS moves the schema one version up; `PRAGMA
user_version` records how far a workspace has come. Never edit a released
migration: append a new one.
"""

import sqlite3

from ..limits import MAX_NAME_CHARS, one_line

SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE question_sets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE questions (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL UNIQUE,
    conversation TEXT NOT NULL,          -- JSON messages; images as attachment:<sha256>
    example_tags TEXT NOT NULL DEFAULT '[]',
    ideal_completions TEXT,              -- JSON or NULL
    canary TEXT,
    theme TEXT,                          -- derived from example_tags, for filtering
    search_text TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE set_members (
    set_id TEXT NOT NULL REFERENCES question_sets(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (set_id, question_id)
);
CREATE INDEX set_members_question ON set_members(question_id);
CREATE INDEX set_members_position ON set_members(set_id, position);
CREATE TABLE attachments (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE criteria (
    id TEXT PRIMARY KEY,
    question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    points INTEGER NOT NULL CHECK (points BETWEEN -10 AND 10 AND points != 0),
    tags TEXT NOT NULL DEFAULT '[]',
    UNIQUE (question_id, position)
);
CREATE TABLE model_configs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,                -- JSON of ModelConfig: never a key, only where to find it
    created_at TEXT NOT NULL
);
CREATE TABLE raters (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('clinician', 'model')),
    role TEXT,
    specialty TEXT,
    model_config_id TEXT REFERENCES model_configs(id) ON DELETE SET NULL,
    grader_settings TEXT,                -- JSON: grader model, settings, prompt version
    created_at TEXT NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('answer', 'grade')),
    set_id TEXT REFERENCES question_sets(id) ON DELETE SET NULL,
    model_config_id TEXT REFERENCES model_configs(id) ON DELETE SET NULL,
    source_run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,   -- grade runs: the answers' run
    rater_id TEXT REFERENCES raters(id) ON DELETE SET NULL,      -- grade runs: the model rater
    samples INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'pending',
    settings TEXT NOT NULL DEFAULT '{}',
    summary TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE work_items (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,                   -- what the item is: question+sample, or answer+criterion
    question_id TEXT REFERENCES questions(id) ON DELETE CASCADE,
    sample INTEGER NOT NULL DEFAULT 0,
    answer_id TEXT REFERENCES answers(id) ON DELETE CASCADE,
    criterion_id TEXT REFERENCES criteria(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at TEXT,
    UNIQUE (run_id, key)
);
CREATE INDEX work_items_status ON work_items(run_id, status);
CREATE TABLE answers (
    id TEXT PRIMARY KEY,
    question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    model TEXT NOT NULL,                 -- who answered: a model config name or an imported label
    model_config_id TEXT REFERENCES model_configs(id) ON DELETE SET NULL,
    run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
    sample INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    finish_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER,
    latency_ms REAL,
    response_id TEXT,
    error TEXT,
    created_at TEXT NOT NULL
);
-- An imported answer is identified by (question, model, text); a run's by (run, question, sample).
CREATE UNIQUE INDEX answers_identity ON answers(question_id, model, text_sha256) WHERE run_id IS NULL;
CREATE UNIQUE INDEX answers_run_sample ON answers(run_id, question_id, sample) WHERE run_id IS NOT NULL;
CREATE INDEX answers_question ON answers(question_id);
CREATE INDEX answers_model ON answers(model);
CREATE TABLE grades (
    id TEXT PRIMARY KEY,
    answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    criterion_id TEXT NOT NULL REFERENCES criteria(id) ON DELETE CASCADE,
    rater_id TEXT NOT NULL REFERENCES raters(id) ON DELETE CASCADE,
    verdict TEXT CHECK (verdict IN ('met', 'not_met', 'cannot_judge')),  -- NULL: no verdict
    explanation TEXT,
    active_seconds REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (answer_id, criterion_id, rater_id)
);
CREATE INDEX grades_rater ON grades(rater_id);
CREATE INDEX grades_criterion ON grades(criterion_id);
CREATE TABLE grade_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grade_id TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    criterion_id TEXT NOT NULL,
    rater_id TEXT NOT NULL,
    old_verdict TEXT,
    new_verdict TEXT,
    old_explanation TEXT,
    new_explanation TEXT,
    reason TEXT,                         -- e.g. 'after_reveal', 'bundle', 'adjudication'
    changed_by TEXT,
    changed_at TEXT NOT NULL
);
CREATE INDEX grade_history_grade ON grade_history(grade_id);
CREATE TABLE answer_reviews (
    answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    rater_id TEXT NOT NULL REFERENCES raters(id) ON DELETE CASCADE,
    comment TEXT,
    unsafe INTEGER NOT NULL DEFAULT 0,
    active_seconds REAL NOT NULL DEFAULT 0,
    submitted_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, rater_id)
);
CREATE TABLE assignments (
    answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    rater_id TEXT NOT NULL REFERENCES raters(id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, rater_id)
);
CREATE INDEX assignments_rater ON assignments(rater_id, position);
CREATE TABLE criterion_flags (
    id TEXT PRIMARY KEY,
    criterion_id TEXT NOT NULL REFERENCES criteria(id) ON DELETE CASCADE,
    rater_id TEXT NOT NULL REFERENCES raters(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,                -- 'wrong_sign', 'wrong_content', 'ambiguous', 'irrelevant', ...
    comment TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (criterion_id, rater_id)
);
CREATE TABLE bundles (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('export', 'import')),
    rater_id TEXT,
    file_name TEXT,
    checksum TEXT,
    summary TEXT,
    created_at TEXT NOT NULL
);
"""

# Reasoning modes (issue 11): a run's mode, and the drafts of contemplating answers.
# A draft belongs to its work item while the answer is being composed (so a killed
# run resumes without redoing it) and to its answer once the synthesis is stored.
SCHEMA_MODES = """
ALTER TABLE runs ADD COLUMN mode TEXT;                 -- instant, thinking, contemplating (NULL: before modes)
ALTER TABLE runs ADD COLUMN drafts INTEGER;            -- contemplating: drafts per answer (K)
ALTER TABLE runs ADD COLUMN aggregator_config_id TEXT REFERENCES model_configs(id) ON DELETE SET NULL;
ALTER TABLE answers ADD COLUMN drafts_used INTEGER;    -- contemplating: drafts the synthesis read
CREATE TABLE answer_drafts (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    work_item_id TEXT REFERENCES work_items(id) ON DELETE SET NULL,
    answer_id TEXT REFERENCES answers(id) ON DELETE CASCADE,   -- set when the synthesis is stored
    question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    sample INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL,                -- 0 .. K-1
    text TEXT,                           -- NULL when the draft failed
    finish_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER,
    latency_ms REAL,
    error TEXT,                          -- why the draft failed after its retries
    created_at TEXT NOT NULL,
    UNIQUE (run_id, question_id, sample, idx)
);
CREATE INDEX answer_drafts_answer ON answer_drafts(answer_id);
"""

# Provider batches (docs/batch-apis.md): each batch a run sent, its state and
# counts as the provider last reported them, and which work items it carries.
# `refs` holds where the results are (file ids, a results URL): never a key,
# never request or result content.
SCHEMA_BATCHES = """
CREATE TABLE provider_batches (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,              -- openai, anthropic, gemini
    provider_id TEXT,                    -- the provider's batch id; NULL while being submitted
    state TEXT NOT NULL,                 -- submitting, validating, in_progress, finalizing, cancelling,
                                         -- completed, expired, cancelled, failed
    raw_state TEXT,                      -- the provider's own word
    collected INTEGER NOT NULL DEFAULT 0,  -- 1 once its results are stored: it no longer holds its items
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    submitted INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    errored INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    unmatched INTEGER NOT NULL DEFAULT 0,  -- result lines whose custom_id matched no item of the batch
    refs TEXT NOT NULL DEFAULT '{}',
    message TEXT,
    created_at TEXT NOT NULL,
    ended_at TEXT,
    next_poll_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX provider_batches_run ON provider_batches(run_id, collected);
CREATE TABLE batch_items (
    batch_id TEXT NOT NULL REFERENCES provider_batches(id) ON DELETE CASCADE,
    work_item_id TEXT NOT NULL REFERENCES work_items(id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL,           -- the item's attempts when it was sent: results count once
    PRIMARY KEY (batch_id, work_item_id)
) WITHOUT ROWID;
CREATE INDEX batch_items_work_item ON batch_items(work_item_id);
"""

# What each model config learned from servers' refusals (JSON: {"model", "caps", "notes"}),
# and answers' cached input tokens (reads and Anthropic writes, both part of input_tokens)
# so that cost counts them at the cached price (issue 9).
SCHEMA_LEARNED_AND_CACHE = """
ALTER TABLE model_configs ADD COLUMN learned TEXT;
ALTER TABLE answers ADD COLUMN cached_input_tokens INTEGER;
ALTER TABLE answers ADD COLUMN cache_write_tokens INTEGER;
"""


def one_line_labels(conn) -> None:
    """Names and labels became one line of text of at most MAX_NAME_CHARS (limits.Label, issue 9
    item 4). A workspace from before could hold a tab or line break in one (the CLI and imports let
    them through): a model config named so would no longer load, and a set, question, rater or
    answer labelled so would keep every review bundle that carries it from being written. Each is
    made to fit as a run's labels are (limits.one_line); where that name is taken, the end of the
    row's id is added. (A model config's key kept in the OS keyring stays under its old name: the
    config asks for it again.)"""
    for table, key, column, unique in _LABEL_COLUMNS:
        taken = {row[0] for row in conn.execute(f"SELECT {column} FROM {table}")} if unique else set()
        rows = conn.execute(f"SELECT {key}, {column} FROM {table} WHERE {column} GLOB ? OR length({column}) > ?",
                            (_ANY_CONTROL, MAX_NAME_CHARS)).fetchall()
        for row_key, value in rows:
            fixed = one_line(value)
            if fixed in taken:
                suffix = f" ({str(row_key)[-8:]})"
                fixed = fixed[:MAX_NAME_CHARS - len(suffix)] + suffix
            taken.add(fixed)
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (fixed, row_key))
    conn.execute("UPDATE model_configs SET config = json_set(config, '$.name', name) "
                 "WHERE json_extract(config, '$.name') != name")


# (table, its key, a label column, whether the column is UNIQUE)
_LABEL_COLUMNS = [("model_configs", "id", "name", True), ("question_sets", "id", "name", True),
                  ("questions", "id", "prompt_id", True), ("raters", "id", "name", True),
                  ("runs", "id", "status", False), ("answers", "id", "model", False),
                  ("answers", "id", "finish_reason", False), ("answers", "id", "response_id", False)]
_ANY_CONTROL = "*[" + "".join(map(chr, range(1, 32))) + "]*"  # a control character, as a GLOB pattern

# MIGRATIONS[i] takes a workspace from user_version i to i + 1.
# A step is SQL, or a function of the connection where SQL cannot say it (apply_migration).
MIGRATIONS: list = [SCHEMA_V1, SCHEMA_MODES, SCHEMA_BATCHES, SCHEMA_LEARNED_AND_CACHE, one_line_labels]
SCHEMA_VERSION = len(MIGRATIONS)


def apply_migration(conn: sqlite3.Connection, migration) -> None:
    """One step of MIGRATIONS on `conn`, inside the caller's transaction (sqlite3's
    executescript would commit first)."""
    if callable(migration):
        migration(conn)
        return
    for statement in _split_sql(migration):
        conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    """A migration's SQL, one statement each."""
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            buf = []
    return [s for s in statements if s]
