"""DuckDB reads a `wsinspect export-parquet` directory: row counts and a few
values per capture against `wsinspect report --format json`, then every
```sql block of docs/columnar.md in order (with 'out/ pointing at the
export), each SELECT returning rows.

Usage: python3 tests/columnar_duckdb.py OUT_DIR REPORTS_DIR docs/columnar.md
(REPORTS_DIR holds <capture-stem>.json). Run by tests/columnar.rs.
"""

import json
import pathlib
import re
import sys

import duckdb

TABLES = ["captures", "connections", "messages", "control_frames",
          "violations", "anomalies", "tls"]


def fail(msg):
    print(f"duckdb: FAIL: {msg}")
    sys.exit(1)


def main():
    out, reports_dir, doc = (pathlib.Path(a) for a in sys.argv[1:4])
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM "
                    f"read_parquet('{out}/{t}/*.parquet')")

    def count(table, capture):
        return con.execute(f"SELECT count(*) FROM {table} WHERE capture = ?",
                           [capture]).fetchone()[0]

    reports = sorted(reports_dir.glob("*.json"))
    if not reports:
        fail(f"no reports in {reports_dir}")
    for path in reports:
        rep = json.loads(path.read_text())
        cap = rep["capture"]
        conns = rep["connections"]
        want = {
            "captures": 1,
            "connections": len(conns),
            "messages": sum(len(c["messages"]) for c in conns),
            "control_frames": sum(len(c["control"]) for c in conns),
            "violations": sum(len(c["violation_details"]) for c in conns),
            "anomalies": sum(len(c["anomalies"]) for c in conns),
            "tls": sum(1 for c in conns if "tls" in c),
        }
        for table, n in want.items():
            got = count(table, cap)
            if got != n:
                fail(f"{cap}: {table} has {got} rows, the JSON report {n}")
        # A few values: bytes, hashes, close codes, packet numbers.
        got = con.execute(
            "SELECT coalesce(sum(payload_len), 0), count(DISTINCT sha256),"
            " coalesce(max(last_packet), 0) FROM messages WHERE capture = ?",
            [cap]).fetchone()
        msgs = [m for c in conns for m in c["messages"]]
        exp = (sum(m["payload_len"] or 0 for m in msgs),
               len({m["sha256"] for m in msgs if m["sha256"]}),
               max([m["last_packet"] for m in msgs], default=0))
        if tuple(got) != exp:
            fail(f"{cap}: messages (bytes, distinct sha256, last packet) "
                 f"{tuple(got)} != {exp}")
        got = sorted(con.execute(
            "SELECT conn_id, index, close_code FROM control_frames"
            " WHERE capture = ? AND opcode = 'close'", [cap]).fetchall())
        exp = sorted((c["id"], i, f["close_code"]) for c in conns
                     for i, f in enumerate(c["control"]) if f["opcode"] == "close")
        if got != exp:
            fail(f"{cap}: close frames {got} != {exp}")
        got = con.execute(
            "SELECT packet_count, stats_messages FROM captures WHERE capture = ?",
            [cap]).fetchone()
        if tuple(got) != (rep["packet_count"], rep["stats"]["messages"]):
            fail(f"{cap}: captures row {got}")
        # Timestamps are real timestamps: the first message's time, in
        # seconds, as the JSON report gives it (float, ~µs).
        if msgs:
            got = con.execute(
                "SELECT epoch_ns(min(ts)) FROM messages WHERE capture = ?",
                [cap]).fetchone()[0]
            exp = min(m["ts"] for m in msgs)
            if abs(got / 1e9 - exp) > 2e-6:
                fail(f"{cap}: first message at {got} ns, report says {exp} s")
    print(f"duckdb: counts and values match {len(reports)} JSON reports")

    # The documented queries, in order, against this export.
    text = doc.read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    if len(blocks) < 6:
        fail(f"expected the documented queries in {doc}, found {len(blocks)}")
    fresh = duckdb.connect()
    for i, block in enumerate(blocks, 1):
        sql = block.replace("'out/", f"'{out}/")
        try:
            for stmt in [s for s in sql.split(";") if s.strip()]:
                rel = fresh.sql(stmt)
                query = stmt.lstrip().upper().startswith(("SELECT", "WITH"))
                if rel is not None and query and not rel.fetchall():
                    fail(f"docs query {i} returned no rows:\n{stmt}")
        except duckdb.Error as e:
            fail(f"docs query {i} failed: {e}\n{sql}")
    print(f"duckdb: {len(blocks)} documented queries ran")
    print("duckdb: all checks passed")


if __name__ == "__main__":
    main()
