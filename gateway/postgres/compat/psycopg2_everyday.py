# psycopg2's everyday features, as one JSON line, so the same run directly against PostgreSQL and through
# Verdict can be compared: read-only sessions, server-side (named) cursors, COPY TO STDOUT, execute_values,
# dict cursors, autocommit, notices, errors and their SQLSTATE.
# Usage: python3 psycopg2_everyday.py <dsn>
import io
import json
import sys

import psycopg2
import psycopg2.extras

out = {}
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()


def step(name, run):
    """Records what `run` returns, or the error it raised (class, SQLSTATE, first line)."""
    try:
        out[name] = run()
    except Exception as e:  # noqa: BLE001 - the error itself is the result to compare
        out[name] = {"error": type(e).__name__, "pgcode": getattr(e, "pgcode", None), "message": str(e).split("\n")[0]}
        conn.rollback()


def read_only():
    conn.set_session(readonly=True, isolation_level="REPEATABLE READ")
    cur.execute("SELECT current_setting('transaction_read_only'), current_setting('transaction_isolation')")
    row = cur.fetchone()
    conn.rollback()
    conn.set_session(readonly=False, isolation_level="DEFAULT")
    return row


def named_cursor():
    c = conn.cursor(name="srv")  # DECLARE ... CURSOR, then FETCH 2 at a time
    c.itersize = 2
    c.execute("SELECT id FROM visits ORDER BY id")
    rows = [r[0] for r in c]
    c.close()
    conn.rollback()
    return rows


def copy_out():
    f = io.StringIO()
    cur.copy_expert("COPY (SELECT id, id * 2 FROM visits ORDER BY id LIMIT 3) TO STDOUT", f)
    conn.rollback()
    return f.getvalue()


def dict_cursor():
    c = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    c.execute("SELECT 1 AS a, 'b' AS b")
    return c.fetchall()


def autocommit():
    conn.rollback()
    conn.autocommit = True
    cur.execute("SELECT 1")
    status = conn.get_transaction_status()
    conn.autocommit = False
    return status


def notices():
    cur.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 1; END $$")
    conn.rollback()
    return list(conn.notices)


def undefined_table():
    cur.execute("SELECT * FROM no_such_table")


step("server_version", lambda: conn.server_version)
step("read_only", read_only)
step("named_cursor", named_cursor)
step("copy_out", copy_out)
step("execute_values", lambda: psycopg2.extras.execute_values(cur, "SELECT * FROM (VALUES %s) AS t(a, b)", [(1, "x"), (2, "y")], fetch=True))
step("dict_cursor", dict_cursor)
step("autocommit", autocommit)
step("notices", notices)
step("error", undefined_table)
step("encoding", lambda: conn.encoding)
conn.close()
print(json.dumps(out, default=str))
