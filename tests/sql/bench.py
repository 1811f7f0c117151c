"""SQL gateway load: the issue's workloads through a stock MySQL driver (PyMySQL), against any
MySQL-speaking server, so the same statements run on Consortia's gateway and on MariaDB.

  python tests/sql/bench.py HOST PORT USER PASSWORD DATABASE LABEL

Prints one JSON object: signed rows/s with multi-row INSERTs (4 connections, 500 rows each),
single-row INSERTs from 32 connections, and SELECT latency by primary key and by a secondary
index (p50/p99, one connection). Environment: PHASE_SECONDS (each insert phase, default 20).
"""

import json
import os
import statistics
import sys
import threading
import time
import uuid

import pymysql

HOST, PORT, USER, PASSWORD, DB, LABEL = sys.argv[1:7]
PORT = int(PORT)
PHASE_S = float(os.environ.get("PHASE_SECONDS", "20"))


def connect():
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=DB,
                           autocommit=True)


def run_for(threads, seconds, work):
    """Runs `work(conn, stop)` in `threads` connections for `seconds`; the rows they wrote."""
    stop = time.monotonic() + seconds
    counts = [0] * threads
    errors = []

    def body(i):
        conn = connect()
        try:
            while time.monotonic() < stop:
                counts[i] += work(conn, i)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            errors.append(repr(e))
        finally:
            conn.close()

    started = time.monotonic()
    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"{LABEL}: {errors[0]}")
    return sum(counts), elapsed


def percentile(samples, p):
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * p))]


def main():
    table = "bench_" + uuid.uuid4().hex[:8]
    conn = connect()
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table} (id BIGINT UNSIGNED NOT NULL, shard INT NOT NULL, "
                "customer VARCHAR(32) NOT NULL, amount DOUBLE, note VARCHAR(64), "
                "PRIMARY KEY (id), INDEX by_customer (customer))")
    ids = iter(range(1, 10**12))
    lock = threading.Lock()

    def next_ids(n):
        with lock:
            return [next(ids) for _ in range(n)]

    def row(i, shard):
        return (i, shard, f"customer-{i % 1000}", i * 0.5, "a row of the benchmark")

    def multi(conn, shard):
        rows = [row(i, shard) for i in next_ids(500)]
        conn.cursor().executemany(
            f"INSERT INTO {table} (id, shard, customer, amount, note) VALUES (%s, %s, %s, %s, %s)",
            rows)
        return len(rows)

    def single(conn, shard):
        (i,) = next_ids(1)
        conn.cursor().execute(
            f"INSERT INTO {table} (id, shard, customer, amount, note) VALUES (%s, %s, %s, %s, %s)",
            row(i, shard))
        return 1

    out = {"label": LABEL}
    rows, elapsed = run_for(4, PHASE_S, multi)
    out["multi_row_rows_per_s"] = round(rows / elapsed)
    rows, elapsed = run_for(32, PHASE_S, single)
    out["single_row_32_conns_rows_per_s"] = round(rows / elapsed)
    cur.execute(f"SELECT COUNT(*), MAX(id) FROM {table}")
    count, top = cur.fetchone()
    out["rows_in_table"] = count

    for name, sql, arg in [
        ("select_pk", f"SELECT * FROM {table} WHERE id = %s", lambda k: k % top + 1),
        ("select_index", f"SELECT * FROM {table} WHERE customer = %s LIMIT 10",
         lambda k: f"customer-{k % 1000}"),
    ]:
        samples = []
        for k in range(2000):
            started = time.perf_counter()
            cur.execute(sql, (arg(k * 7919),))
            cur.fetchall()
            samples.append((time.perf_counter() - started) * 1000)
        out[f"{name}_p50_ms"] = round(statistics.median(samples), 3)
        out[f"{name}_p99_ms"] = round(percentile(samples, 0.99), 3)
    conn.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
