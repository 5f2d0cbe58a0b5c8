"""Distribute `wsinspect export-parquet` over a list of captures with Spark,
then query the tables it wrote. See docs/columnar.md.

    python3 docs/spark_export.py --binary target/release/wsinspect \
        --out /shared/wsinspect-out --master local[4] captures/*.pcap*

    spark-submit docs/spark_export.py --binary /opt/wsinspect \
        --out /mnt/shared/out --partitions 200 $(cat capture-list.txt)

Each Spark task runs the binary on its share of the captures; the binary
writes DIR/<table>/<capture-stem>.parquet, so tasks never touch each
other's files. On a cluster, --out and the captures must be on a file
system every executor sees (NFS, a FUSE mount of the object store ...), and
the binary must be installed at the same path on every executor.

--check-reports DIR compares the row counts per capture with
`wsinspect report --format json` outputs (<capture-stem>.json) in DIR;
tests/columnar.rs uses it.
"""

import argparse
import json
import pathlib
import subprocess
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TABLES = ["captures", "connections", "messages", "control_frames",
          "violations", "anomalies", "tls"]


def export_partition(binary, out):
    """A mapPartitions function: one `export-parquet` run per partition."""
    def run(paths):
        paths = list(paths)
        if not paths:
            return
        r = subprocess.run(
            [binary, "export-parquet", out, "--keylog-beside", *paths],
            capture_output=True, text=True)
        # One line per capture: its row counts, or why it failed (a bad
        # capture fails alone; the others of the partition are exported).
        for line in r.stderr.splitlines():
            yield line
        if r.returncode not in (0, 2):
            raise RuntimeError(f"export-parquet crashed ({r.returncode}): {r.stderr}")
    return run


def load_tables(spark, out):
    """Registers every table as a temporary view.

    Timestamp columns are TIMESTAMP(NANOS, UTC) in the files; Spark reads
    those only as int64 nanoseconds (spark.sql.legacy.parquet.nanosAsLong),
    so each `*ts` column is kept as `<name>_ns` and turned into a Spark
    timestamp (microseconds) under its own name.
    """
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    for t in TABLES:
        path = pathlib.Path(out) / t
        if not any(path.glob("*.parquet")):  # e.g. no tls/ without wss
            continue
        df = spark.read.parquet(str(path))
        for c in df.columns:
            if c == "ts" or c.endswith("_ts"):
                df = (df.withColumnRenamed(c, c + "_ns")
                        .withColumn(c, F.expr(f"timestamp_micros({c}_ns div 1000)")))
        df.createOrReplaceTempView(t)


QUERIES = {
    "close codes by server": """
        SELECT server, close_code, count(*) AS n FROM control_frames
        WHERE opcode = 'close' GROUP BY server, close_code
        ORDER BY server, n DESC""",
    "message size percentiles": """
        SELECT dir, opcode, count(*) AS messages,
               percentile_approx(payload_len, array(0.5, 0.9, 0.99)) AS p50_p90_p99
        FROM messages WHERE payload_len IS NOT NULL
        GROUP BY dir, opcode ORDER BY dir, opcode""",
    "connections with violations": """
        SELECT c.capture, c.conn_id, c.server, collect_list(v.kind) AS kinds
        FROM connections c JOIN violations v
          ON c.capture = v.capture AND c.conn_id = v.conn_id
        GROUP BY c.capture, c.conn_id, c.server""",
    "messages per second (peak)": """
        SELECT capture, max(n) AS peak FROM (
          SELECT capture, date_trunc('second', ts) AS s, count(*) AS n
          FROM messages GROUP BY capture, date_trunc('second', ts))
        GROUP BY capture ORDER BY peak DESC""",
}


def check_reports(spark, reports_dir):
    want = {}
    for p in sorted(pathlib.Path(reports_dir).glob("*.json")):
        rep = json.loads(p.read_text())
        conns = rep["connections"]
        want[rep["capture"]] = {
            "captures": 1,
            "connections": len(conns),
            "messages": sum(len(c["messages"]) for c in conns),
            "control_frames": sum(len(c["control"]) for c in conns),
            "violations": sum(len(c["violation_details"]) for c in conns),
            "anomalies": sum(len(c["anomalies"]) for c in conns),
            "tls": sum(1 for c in conns if "tls" in c),
        }
    for t in TABLES:
        got = {}
        if spark.catalog.tableExists(t):  # no tls/ when no capture had TLS
            got = {r["capture"]: r["n"] for r in spark.sql(
                f"SELECT capture, count(*) AS n FROM {t} GROUP BY capture").collect()}
        for cap, counts in want.items():
            if got.get(cap, 0) != counts[t]:
                print(f"spark: MISMATCH {cap} {t}: {got.get(cap, 0)} != {counts[t]}")
                return False
    # Timestamps survive: the first message of each capture, as the report says.
    first = {r["capture"]: r["t"] for r in spark.sql(
        "SELECT capture, min(ts_ns) AS t FROM messages GROUP BY capture").collect()}
    for p in sorted(pathlib.Path(reports_dir).glob("*.json")):
        rep = json.loads(p.read_text())
        ts = [m["ts"] for c in rep["connections"] for m in c["messages"]]
        if ts and abs(first[rep["capture"]] / 1e9 - min(ts)) > 2e-6:
            print(f"spark: MISMATCH first message time of {rep['capture']}")
            return False
    print(f"spark: counts match the JSON reports ({len(want)} captures)")
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="wsinspect")
    ap.add_argument("--out", required=True)
    ap.add_argument("--master", default=None)
    ap.add_argument("--partitions", type=int, default=None)
    ap.add_argument("--check-reports", default=None)
    ap.add_argument("captures", nargs="+")
    args = ap.parse_args()

    b = SparkSession.builder.appName("wsinspect-export")
    if args.master:
        b = b.master(args.master)
    spark = b.config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext

    paths = [str(pathlib.Path(p).resolve()) for p in args.captures]
    out = str(pathlib.Path(args.out).resolve())
    n = args.partitions or min(len(paths), sc.defaultParallelism * 4)
    lines = (sc.parallelize(paths, n)
               .mapPartitions(export_partition(args.binary, out))
               .collect())
    for line in lines:
        print(line)
    failed = [line for line in lines if "wsinspect: error:" in line]

    load_tables(spark, out)
    for name, q in QUERIES.items():
        print(f"-- {name}")
        for row in spark.sql(q).take(10):
            print(row)
    ok = not failed
    if args.check_reports:
        ok = check_reports(spark, args.check_reports) and ok
    spark.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
