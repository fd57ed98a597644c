"""Offline review bundles at the size of a real assignment: 1,000 answers x ~11 criteria.

A workspace gets 1,000 HealthBench-shaped questions with one answer each and a
model grader's verdicts; all answers are assigned to one clinician. Timed:
export of the bundle, a verify (every check, nothing merged), the import of
the bundle once every criterion was graded offline, and a second import
(nothing new). Target: export and import under 3 s each. For scale, also the
long-form CSV and results exports of the same workspace (no target).

Usage: python benchmarks/bench_bundles.py [ANSWERS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TARGET = 3.0


def timed(label: str, fn, target: float | None = TARGET):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    ratio = f" (target < {target:.0f} s, ratio {seconds / target:.2f})" if target else ""
    print(f"{label:<34} {seconds:6.2f} s{ratio}")
    return result


def grade_offline(path: Path, rater_id: str) -> int:
    """Every criterion of every answer graded in the bundle, as the desktop app would store it."""
    from healthqa.store import Workspace, add_new_grades

    with Workspace(path, create=False) as bundle:
        criteria: dict[str, list[str]] = {}
        for qid, cid in bundle.conn.execute("SELECT question_id, id FROM criteria ORDER BY question_id, position"):
            criteria.setdefault(qid, []).append(cid)
        count = 0
        with bundle.transaction():
            for i, (answer_id, qid) in enumerate(bundle.conn.execute("SELECT id, question_id FROM answers").fetchall()):
                verdicts = [(cid, "met" if (i + j) % 3 else "not_met", "offline note" if j == 0 else None)
                            for j, cid in enumerate(criteria[qid])]
                count += add_new_grades(bundle, answer_id, rater_id, verdicts)
            bundle.conn.execute("UPDATE grades SET active_seconds = 4.0")
    return count


def main() -> None:
    from generate_healthbench import generate

    from healthqa.review import assign
    from healthqa.formats.bundle import export_bundle, import_bundle, verify_bundle
    from healthqa.formats.exports import export_long, export_results
    from healthqa.formats.healthbench import import_healthbench
    from healthqa.store import Workspace

    answers = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "synthetic.jsonl"
        generate(str(src), answers, graded=True)
        with Workspace(Path(tmp) / "home.healthqa") as ws:
            import_healthbench(ws, src, set_name="bench", rater="synthetic-grader", rater_kind="model")
            assign(ws, ["Dr Bench"], 1)
            criteria = ws.scalar("SELECT count(*) FROM criteria")
            print(f"workspace: {answers} answers, {criteria} criteria ({criteria / answers:.1f} per question), "
                  f"{ws.scalar('SELECT count(*) FROM grades')} grader verdicts")
            bundle = Path(tmp) / "bench.hqbundle"
            report = timed("export", lambda: export_bundle(ws, "Dr Bench", bundle))
            print(f"{'':<34} bundle file {bundle.stat().st_size / 2**20:.1f} MB, {report.counts['answers']} answers")
            rater_id = ws.scalar("SELECT id FROM raters WHERE name = 'Dr Bench'")
            graded = grade_offline(bundle, rater_id)
            print(f"{'':<34} {graded} verdicts given offline")
            timed("verify (checks only)", lambda: verify_bundle(bundle), target=None)
            merged = timed("import", lambda: import_bundle(ws, bundle))
            print(f"{'':<34} {merged.added['grade']} grades added, {len(merged.conflicts)} conflicts")
            again = timed("import again (nothing new)", lambda: import_bundle(ws, bundle), target=None)
            assert not again.changed
            rows = timed("long-form CSV export", lambda: export_long(ws, Path(tmp) / "long.csv"), target=None)
            print(f"{'':<34} {rows} rows, {(Path(tmp) / 'long.csv').stat().st_size / 2**20:.1f} MB")
            timed("healthbench-results export", lambda: export_results(ws, Path(tmp) / "results.jsonl"), target=None)


if __name__ == "__main__":
    main()
