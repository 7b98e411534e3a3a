# Shared views of the policy input: the identity's roles and every statement, nested ones included
# (DO blocks, function bodies, EXPLAIN ANALYZE targets run too, so they are judged too).
package verdict.statements

# The statement itself and every statement nested in it (the analysis flattens nesting).
all contains input.statement

all contains s if some s in input.statement.nested

roles contains role if {
	some group in input.identity.groups
	role := data.access.roles_by_group[group]
}

role_config contains data.access.roles[r] if some r in roles

# Tables every statement touches, read or written.
tables contains {"schema": t.schema, "table": t.table, "access": "read"} if {
	some s in all
	some t in s.reads
}

tables contains {"schema": t.schema, "table": t.table, "access": "write"} if {
	some s in all
	some t in s.writes
}

# The engine behind the connection: postgres | snowflake (inputs without one are PostgreSQL's).
engine := object.get(input, ["connection", "engine"], "postgres")

snowflake if engine == "snowflake"

# The role data's schema list for this engine: `schemas` (PostgreSQL) or `snowflake_schemas`.
default schemas_key := "schemas"

schemas_key := "snowflake_schemas" if snowflake

# A table's key in data.classification.phi and in messages: "schema.table" for PostgreSQL (public.patients),
# "DATABASE.SCHEMA.TABLE" for Snowflake, whose analysis names the schema with its database (CLINIC.PUBLIC.PATIENTS).
qualified(t) := concat(".", [t.schema, t.table])
