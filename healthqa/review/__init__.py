"""The clinician's grading session (session.py): blinded queue, autosave, reveal,
active time; adjudication, assignments, criterion flags, and the ratings table
the agreement statistics read (ratings.py)."""

from .adjudication import (AdjudicationError, adjudicate, adjudication_item, agreement_overview, answer_scope,
                           compared_raters, disagreements)
from .assignments import (AssignReport, AssignmentError, assign, assigned_answer_ids, assignment_summary,
                          sample_answers, list_assignments)
from .flags import (FLAG_COLUMNS, FLAG_REASONS, FlagError, MAX_FLAG_COMMENT, criterion_id_at, export_flags,
                    flag_criterion, list_flags, unflag_criterion)
from .ratings import load_rating_table
from .session import (AFTER_REVEAL, ActiveClock, AnswerView, Progress, Reveal, ReviewError, blind_label, disagrees,
                      filter_tags, first_open_index, grades_on_question, grading_queue, is_submitted, load_answer,
                      progress, question_count, raters_with_grades, record_grade, reveal, submit_answer, submitted_ids)
