# Deny rules: what no identity may run through the gateway, and who is not known at all.
package verdict.guards

import data.verdict.masking
import data.verdict.statements

deny contains {"rule": "guards.no_role", "message": msg} if {
	count(statements.roles) == 0
	msg := sprintf("identity %s is in no group that maps to a role (access/data.yaml roles_by_group)", [input.identity.sub])
}

deny contains {"rule": "guards.unparsed", "message": msg} if {
	some s in statements.all
	s.kind == "unknown"
	msg := sprintf("the statement could not be analyzed: %s", [object.get(s, "parse_error", "unknown statement")])
}

deny contains {"rule": "guards.opaque", "message": opaque_message} if {
	some s in statements.all
	s.opaque
}

default opaque_message := "dynamic SQL (EXECUTE in a DO block or function) cannot be checked before it runs"

opaque_message := "dynamic SQL (EXECUTE IMMEDIATE of a variable or bind, CALL of a procedure, a function or procedure body) cannot be checked before it runs" if statements.snowflake

deny contains {"rule": "guards.dangerous_function", "message": msg} if {
	some s in statements.all
	some f in s.functions
	name := base_name(f)
	name in data.access.dangerous_functions
	msg := sprintf("function %s is not allowed through the gateway", [f])
}

deny contains {"rule": "guards.server_side_copy", "message": msg} if {
	not statements.snowflake
	some s in statements.all
	s.copy.target in {"file", "program"}
	msg := sprintf("COPY %s %s runs on the database server and is not allowed; use COPY ... %s", [
		upper(s.copy.direction), upper(s.copy.target),
		{"from": "FROM STDIN", "to": "TO STDOUT"}[s.copy.direction],
	])
}

deny contains {"rule": "guards.role_change", "message": msg} if {
	some s in statements.all
	s.command in data.access.role_change_commands
	msg := sprintf("%s is not allowed: the gateway sets the database role from your identity", [s.command])
}

deny contains {"rule": "guards.privileges", "message": msg} if {
	some s in statements.all
	s.kind == "dcl"
	msg := sprintf("%s changes privileges or roles and is not allowed through the gateway", [s.command])
}

deny contains {"rule": "guards.schema", "message": msg} if {
	count(statements.roles) > 0
	some t in statements.tables
	not t.schema in data.access.catalog_schemas
	not schema_allowed(t.schema)
	msg := sprintf("no role of yours may %s tables in schema %s (%s)", [t.access, t.schema, statements.qualified(t)])
}

deny contains {"rule": "guards.catalog_write", "message": msg} if {
	some t in statements.tables
	t.access == "write"
	t.schema in data.access.catalog_schemas
	msg := sprintf("writing the system catalog (%s) is not allowed", [statements.qualified(t)])
}

deny contains {"rule": "guards.sensitive_catalog", "message": msg} if {
	some t in statements.tables
	statements.qualified(t) in data.access.sensitive_catalog
	not sensitive_catalog_allowed
	msg := sprintf("%s can reveal data or secrets; only roles with sensitive_catalog may read it", [statements.qualified(t)])
}

# Table locks and maintenance hold locks others wait on (LOCK … ACCESS EXCLUSIVE, VACUUM FULL, CLUSTER,
# REINDEX): only roles with `maintenance` run them.
deny contains {"rule": "guards.maintenance", "message": msg} if {
	some s in statements.all
	s.command in data.access.maintenance_commands
	not maintenance_allowed
	msg := sprintf("%s takes locks other sessions wait on; only roles with maintenance may run it", [s.command])
}

maintenance_allowed if {
	some cfg in statements.role_config
	cfg.maintenance == true
}

schema_allowed(schema) if {
	some cfg in statements.role_config
	schema in object.get(cfg, statements.schemas_key, [])
}

sensitive_catalog_allowed if {
	some cfg in statements.role_config
	cfg.sensitive_catalog == true
}

base_name(f) := parts[count(parts) - 1] if parts := split(f, ".")

# Whole-row values (row_to_json(p), p::text, ROW(p.*)) carry every column inside one value,
# where a column mask cannot reach: deny them for tables holding PHI the roles may not see.
deny contains {"rule": "guards.whole_row_phi", "message": msg} if {
	some s in statements.all
	some rc in s.result_columns
	rc.derived
	some src in rc.sources
	src.column == "*"
	some type in data.classification.phi[statements.qualified(src)]
	not masking.entitled(type)
	msg := sprintf("result column \"%s\" carries whole rows of %s, which holds PHI you may only see masked; select the columns instead", [rc.name, statements.qualified(src)])
}

# Unqualified names are resolved with the gateway's search path; a session that changed it could
# make `patients` mean another table than the one the policy judged.
deny contains {"rule": "guards.search_path", "message": msg} if {
	some s in statements.all
	s.setting == "search_path"
	s.command in {"SET", "RESET"}
	msg := sprintf("%s search_path is not allowed: the gateway resolves table names with a fixed search path; qualify names with their schema instead", [s.command])
}

deny contains {"rule": "guards.search_path", "message": msg} if {
	statements.snowflake
	some s in statements.all
	s.command in {"USE DATABASE", "USE SCHEMA"}
	msg := sprintf("%s is not allowed: the gateway resolves table names in a fixed database and schema; qualify names with them instead", [s.command])
}

# Filtering, joining, grouping or sorting on a PHI column reveals it without returning it
# (WHERE ssn LIKE '123%' answers a yes/no question about the value): denied to roles that see it masked.
deny contains {"rule": "guards.phi_predicate", "message": msg} if {
	some s in statements.all
	some p in s.predicates_on
	type := data.classification.phi[statements.qualified(p)][p.column]
	not masking.entitled(type)
	msg := sprintf("%s.%s.%s is PHI (%s) you see masked; filtering, joining, grouping or sorting on it would reveal it", [p.schema, p.table, p.column, type])
}

# What the analysis cannot follow cannot be masked: dynamic SQL always, and any other unresolved
# lineage (unknown functions, opaque bodies) when the statement reads PHI the roles may not see.
deny contains {"rule": "guards.unresolved", "message": msg} if {
	some s in statements.all
	some u in s.unresolved
	startswith(u.reason, "dynamic_sql:")
	msg := sprintf("the statement runs SQL that cannot be checked before it runs (%s)", [u.reason])
}

deny contains {"rule": "guards.unresolved", "message": msg} if {
	some s in statements.all
	some u in s.unresolved
	not startswith(u.reason, "dynamic_sql:")
	reads_masked_phi(s)
	msg := sprintf("the statement reads PHI you see masked through something whose output cannot be traced (%s)", [u.reason])
}

# A write whose reach the gateway could not measure (volatile or user functions in its predicate, nested
# writes in DO blocks, data-modifying WITH or function bodies) is refused: approval would be a guess.
deny contains {"rule": "guards.blast_radius_unmeasurable", "message": msg} if {
	br := object.get(input.statement, "blast_radius", null)
	br != null
	br.error != null
	msg := sprintf("%s is refused: how many rows it would change cannot be measured before it runs (%s); write it as one plain UPDATE, DELETE or MERGE whose WHERE uses no volatile or user-defined functions", [input.statement.command, br.error])
}

# EXPLAIN prints the plan, not rows, and is returned as the server sends it. ANALYZE runs the statement and
# reports what it found (actual row counts per filter), VERBOSE prints output expressions: over PHI the roles
# see masked, both are refused rather than masked line by line.
deny contains {"rule": "guards.explain_phi", "message": msg} if {
	some s in statements.all
	s.command == "EXPLAIN"
	some option in object.get(s, "explain_options", [])
	option in {"analyze", "verbose"}
	some n in s.nested
	reads_masked_phi(n)
	msg := sprintf("EXPLAIN %s of a statement that reads PHI you see masked could reveal it; use EXPLAIN without ANALYZE or VERBOSE", [upper(option)])
}

# Copying PHI a role sees masked into a table, view or function would launder it: the copy is unclassified.
deny contains {"rule": "guards.phi_copy", "message": msg} if {
	some s in statements.all
	copies_data(s)
	reads_masked_phi(s)
	msg := sprintf("%s reads PHI you see masked and writes data: it could copy the values where they are no longer masked, so only roles entitled to them may run it", [s.command])
}

copies_data(s) if s.kind in {"insert", "update", "merge"}

copies_data(s) if s.creates_table_from_query

copies_data(s) if s.command in {"CREATE VIEW", "CREATE MATERIALIZED VIEW", "CREATE FUNCTION", "CREATE PROCEDURE"}

reads_masked_phi(s) if {
	some t in s.reads
	some column in t.columns
	column_masked(t, column)
}

column_masked(t, column) if {
	column != "*"
	type := data.classification.phi[statements.qualified(t)][column]
	not masking.entitled(type)
}

column_masked(t, "*") if {
	some type in data.classification.phi[statements.qualified(t)]
	not masking.entitled(type)
}

# Snowflake's ways out of the account. COPY INTO a stage or an external location (s3://, azure://, gcs://)
# unloads rows past the gateway's masking; COPY INTO a table FROM one loads files no analysis can see; GET and
# PUT move files between the client and a stage; a stage named in FROM (@stage) reads files. The analysis
# reports all of them as copy.target "file" or as a table named "@...". Only roles with external_access.
deny contains {"rule": "guards.stage_transfer", "message": msg} if {
	statements.snowflake
	some s in statements.all
	s.copy.target == "file"
	not external_access_allowed
	msg := sprintf("%s is not allowed: %s; only roles with external_access may run it", [s.command, object.get(stage_transfer, [s.command, s.copy.direction], "it moves files between Snowflake and places outside it")])
}

stage_transfer := {
	"COPY INTO": {
		"to": "unloading to a stage or external location moves rows out of Snowflake, past the gateway's masking",
		"from": "loading from a stage or external location reads files the gateway cannot check",
	},
	"PUT": {"from": "it uploads client files to a stage"},
	"GET": {"to": "it downloads stage files to the client, past the gateway's masking"},
}

deny contains {"rule": "guards.stage_transfer", "message": msg} if {
	statements.snowflake
	some t in statements.tables
	startswith(t.table, "@")
	not external_access_allowed
	msg := sprintf("stage %s holds files outside Snowflake's tables the gateway cannot check or mask; only roles with external_access may %s it", [statements.qualified(t), t.access])
}

# CREATE / ALTER of stages, integrations, external functions, external tables and pipes connects Snowflake to
# storage, networks or services outside it (data.access.snowflake.external_objects; any "... INTEGRATION").
deny contains {"rule": "guards.external_object", "message": msg} if {
	statements.snowflake
	some s in statements.all
	external_object_command(s.command)
	not external_access_allowed
	msg := sprintf("%s connects Snowflake to storage, networks or services outside it; only roles with external_access may run it", [s.command])
}

external_object_command(command) if {
	some verb in ["CREATE", "ALTER"]
	some object in data.access.snowflake.external_objects
	command == sprintf("%s %s", [verb, object])
}

external_object_command(command) if {
	some verb in ["CREATE ", "ALTER "]
	startswith(command, verb)
	endswith(command, " INTEGRATION")
}

# SYSTEM$ functions send email, reach the network, reveal account, integration and private-link configuration or
# change clustering and tasks: denied by prefix, except data.access.snowflake.harmless_system_functions.
deny contains {"rule": "guards.system_function", "message": msg} if {
	statements.snowflake
	some s in statements.all
	some f in s.functions
	name := base_name(f)
	startswith(name, "system$")
	not name in data.access.snowflake.harmless_system_functions
	not external_access_allowed
	msg := sprintf("function %s is not allowed through the gateway: SYSTEM$ functions can reach outside the query; only roles with external_access may call it", [f])
}

# RESULT_SCAN reads the stored result of another query: rows this statement's analysis cannot see, so cannot
# mask (the earlier query's result was masked only on its way to the client). No role may run it.
deny contains {"rule": "guards.result_scan", "message": "RESULT_SCAN reads the result of another query, which the gateway cannot check or mask; run that query again instead"} if {
	statements.snowflake
	some s in statements.all
	some f in s.functions
	base_name(f) == "result_scan"
}

external_access_allowed if {
	some cfg in statements.role_config
	cfg.external_access == true
}
