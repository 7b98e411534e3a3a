# What a psycopg2 (libpq) client sees of the session, as one JSON line, so the same run directly against
# PostgreSQL and through Verdict can be compared: startup settings from the DSN's options and
# application_name, and statements that hold only a comment.
# Usage: python3 psycopg2_fidelity.py <dsn>
import json
import sys

import psycopg2

out = {}
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('default_transaction_isolation')")
out["settings"] = list(cur.fetchone())
try:
    cur.execute("-- only a comment")
    out["comment_only"] = {"description": cur.description, "rowcount": cur.rowcount, "status": cur.statusmessage}
except psycopg2.Error as e:
    # libpq reports the server's EmptyQueryResponse as an error of its own (no SQLSTATE).
    out["comment_only"] = {"error": str(e), "pgcode": e.pgcode}
conn.rollback()
try:
    cur.execute("SELECT pg_sleep(2)")
    out["timeout"] = None
except psycopg2.Error as e:
    out["timeout"] = e.pgcode
conn.close()
print(json.dumps(out))
