#!/usr/bin/env python3
"""What storing the import's events costs SQLite itself, with no tokenwatch code in the way.

Reads every row of `usage_events` from a database that `tokenwatch import claude-code` filled,
then inserts those same rows into fresh databases with one prepared statement (Python's
sqlite3 module: the C library, rows bound one by one) in one transaction, the way the importer
does, under three schemas:

  full       tokenwatch's schema as stored in the source database
  key-only   the same table with only its primary key and the unique dedup_key index
  memory     key-only, in memory (no file, no WAL): the least any SQLite store could pay

and prints the median wall and CPU seconds of --runs runs each. With ccusage's time for the
same corpus measured beside it (tokenwatch-bench import), it bounds what an importer that keeps
its events in SQLite can reach: the `memory` figure alone is paid on top of reading and parsing.

usage: scripts/sqlite-insert-floor.py SOURCE.db [--runs 3]
"""

import argparse
import os
import sqlite3
import statistics
import tempfile
import time


def schema_of(src, keep_indexes):
    out = []
    for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'usage_events' AND sql IS NOT NULL"
    ):
        if sql.startswith("CREATE INDEX") and not keep_indexes:
            continue
        out.append(sql)
    return out


def insert(rows, statements, path):
    db = sqlite3.connect(path, isolation_level=None)
    for sql in statements:
        db.execute(sql)
    if path != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -8192")
    marks = ",".join("?" * len(rows[0]))
    wall, cpu = time.perf_counter(), time.process_time()
    db.execute("BEGIN")
    db.executemany(
        f"INSERT INTO usage_events VALUES ({marks}) ON CONFLICT (dedup_key) DO NOTHING", rows
    )
    db.execute("COMMIT")
    result = (time.perf_counter() - wall, time.process_time() - cpu)
    db.close()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="a tokenwatch SQLite database holding imported events")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.source):
        raise SystemExit(f"{args.source}: no such database")
    src = sqlite3.connect(f"file:{args.source}?mode=ro", uri=True)
    rows = src.execute("SELECT * FROM usage_events ORDER BY ts_ms").fetchall()
    if not rows:
        raise SystemExit(f"{args.source}: usage_events is empty; import a corpus first")
    variants = {
        "full": (schema_of(src, True), False),
        "key-only": (schema_of(src, False), False),
        "memory": (schema_of(src, False), True),
    }
    print(f"{len(rows)} events, {len(rows[0])} columns; medians of {args.runs} runs")
    print(f"{'schema':10} {'wall s':>8} {'cpu s':>8}")
    for name, (statements, in_memory) in variants.items():
        walls, cpus = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                path = ":memory:" if in_memory else os.path.join(tmp, "floor.db")
                wall, cpu = insert(rows, statements, path)
            walls.append(wall)
            cpus.append(cpu)
        print(f"{name:10} {statistics.median(walls):8.3f} {statistics.median(cpus):8.3f}")


if __name__ == "__main__":
    main()
