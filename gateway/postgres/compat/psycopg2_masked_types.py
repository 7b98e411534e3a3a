# Reads masked JSON, arrays and typed columns through the gateway with psycopg2 (its own type casters, plus
# the uuid and range ones from extras); prints one JSON line. Usage: python3 psycopg2_masked_types.py <dsn>
import json
import sys

import psycopg2
import psycopg2.extras

psycopg2.extras.register_uuid()
out = {"errors": []}
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()


def fetch(name, sql):
    try:
        cur.execute(sql)
        return cur.fetchall()
    except Exception as e:  # any parse error in psycopg2's casters lands here
        out["errors"].append("%s: %s" % (name, e))
        conn.rollback()
        return None


rows = fetch("json", "SELECT row_to_json(p), to_jsonb(p), json_agg(p) OVER (), to_jsonb(array[name, ssn]), array[name, ssn], array[dob] FROM patients p ORDER BY id")
if rows:
    out["json_type"] = type(rows[0][0]).__name__
    out["json_agg_type"] = type(rows[0][2]).__name__
    out["array_type"] = type(rows[0][4]).__name__
    out["json"] = rows[0][0]
rows = fetch("typed", "SELECT * FROM typed_redact")
if rows:
    names = [d[0] for d in cur.description]
    row = dict(zip(names, rows[0]))
    out["int4"] = row["c_int4"]
    out["uuid"] = str(row["c_uuid"])
    out["typed"] = {k: repr(v) for k, v in row.items()}
rows = fetch("year", "SELECT d, ts, tstz, ad, js FROM typed_year")
if rows:
    out["year"] = rows[0][0].isoformat()
    out["year_row"] = [repr(v) for v in rows[0]]
conn.close()
print(json.dumps(out, default=str))
