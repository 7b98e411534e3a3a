# Drives the gateway with psycopg2 (Debian's python3-psycopg2): prints one JSON line of results.
# Usage: python3 psycopg2_client.py <dsn>
import json
import sys

import psycopg2

out = {}
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT name, ssn FROM patients WHERE id = %s", (1,))
out["masked"] = list(cur.fetchone())
try:
    cur.execute("SELECT pg_read_file('/etc/passwd')")
    out["denied"] = None
except psycopg2.Error as e:
    out["denied"] = {"code": e.pgcode, "message": e.pgerror}
conn.rollback()
cur.execute("SELECT count(*) FROM visits")
out["count"] = cur.fetchone()[0]
conn.close()
print(json.dumps(out))
