# Unit tests for the Snowflake side of the policy: engine-aware data (classification keys and role schemas per
# engine) and the guards for Snowflake's ways out of the account, entitled by external_access.
package verdict.snowflake_test

import data.verdict
import data.verdict.guards
import data.verdict.statements
import data.verdict.test_helpers as h

sf_input(groups, overrides) := object.union(h.input_for(groups, overrides), {"connection": {"engine": "snowflake", "front_door": "snowflake", "database": "CLINIC"}})

rules(inp) := rules_under(inp, h.access)

rules_under(inp, access) := {r.rule | some r in d} if {
	d := guards.deny with input as inp with data.classification as h.classification with data.access as access
}

# The test data with one role (dba) entitled to move data across Snowflake's boundary.
entitled := object.union(h.access, {"roles": object.union(h.access.roles, {"dba": object.union(h.access.roles.dba, {"external_access": true})})})

sf_read(table, columns) := {"reads": [{"schema": "CLINIC.PUBLIC", "table": table, "columns": columns}]}

test_snowflake_tables_use_snowflake_schemas if {
	not "guards.schema" in rules(sf_input(["analysts"], sf_read("PATIENTS", ["ID"])))
	"guards.schema" in rules(sf_input(["analysts"], {"reads": [{"schema": "CLINIC.BILLING", "table": "CLAIMS", "columns": ["ID"]}]}))

	# PostgreSQL's list does not admit a Snowflake schema, nor the reverse.
	"guards.schema" in rules(h.input_for(["analysts"], {"reads": [{"schema": "CLINIC.PUBLIC", "table": "PATIENTS", "columns": ["ID"]}]}))
	"guards.schema" in rules(sf_input(["analysts"], {"reads": [{"schema": "public", "table": "patients", "columns": ["id"]}]}))
}

test_engine_defaults_to_postgres if {
	statements.engine == "postgres" with input as {"statement": {}} with data.classification as h.classification with data.access as h.access
	statements.schemas_key == "schemas" with input as h.input_for(["analysts"], {}) with data.classification as h.classification with data.access as h.access
	statements.schemas_key == "snowflake_schemas" with input as sf_input(["analysts"], {}) with data.classification as h.classification with data.access as h.access
}

test_snowflake_classification_keys_are_three_part if {
	d := verdict.decision with input as sf_input(["analysts"], object.union(sf_read("PATIENTS", ["SSN"]), {"result_columns": [h.result("SSN", [{"schema": "CLINIC.PUBLIC", "table": "PATIENTS", "column": "SSN"}], false)]})) with data.classification as h.classification with data.access as h.access
	d.action == "mask"
	[m.method | some m in d.masks] == ["partial"]
}

test_use_schema_and_database_denied_on_snowflake_only if {
	"guards.search_path" in rules(sf_input(["dba"], {"command": "USE SCHEMA", "kind": "utility"}))
	"guards.search_path" in rules(sf_input(["dba"], {"command": "USE DATABASE", "kind": "utility"}))
	not "guards.search_path" in rules(h.input_for(["dba"], {"command": "USE SCHEMA", "kind": "utility"}))
}

test_stage_transfer_denied_unless_entitled if {
	copy := {"kind": "copy", "command": "COPY INTO", "copy": {"direction": "to", "target": "file", "table": null}}
	"guards.stage_transfer" in rules(sf_input(["dba"], copy))
	not "guards.stage_transfer" in rules_under(sf_input(["dba"], copy), entitled)
	stage := sf_read("@EXPORTS", ["*"])
	"guards.stage_transfer" in rules(sf_input(["dba"], stage))
	not "guards.stage_transfer" in rules_under(sf_input(["dba"], stage), entitled)

	# On PostgreSQL, COPY TO FILE stays the server-side copy guard's.
	rules(h.input_for(["dba"], copy)) == {"guards.server_side_copy"}
}

test_stage_transfer_message_for_unknown_forms if {
	some r in guards.deny with input as sf_input(["dba"], {"command": "UNLOAD", "copy": {"direction": "to", "target": "file", "table": null}}) with data.classification as h.classification with data.access as h.access
	r.rule == "guards.stage_transfer"
	contains(r.message, "moves files between Snowflake and places outside it")
}

test_external_objects_denied_unless_entitled if {
	"guards.external_object" in rules(sf_input(["dba"], {"kind": "ddl", "command": "CREATE EXTERNAL FUNCTION"}))
	"guards.external_object" in rules(sf_input(["dba"], {"kind": "ddl", "command": "ALTER STAGE"}))

	# Any integration type, listed or not.
	"guards.external_object" in rules(sf_input(["dba"], {"kind": "ddl", "command": "CREATE FUTURE INTEGRATION"}))
	not "guards.external_object" in rules(sf_input(["dba"], {"kind": "ddl", "command": "DROP STAGE"}))
	not "guards.external_object" in rules_under(sf_input(["dba"], {"kind": "ddl", "command": "CREATE STAGE"}), entitled)
}

test_system_functions_denied_by_prefix_except_harmless if {
	"guards.system_function" in rules(sf_input(["dba"], {"functions": ["system$whitelist"]}))
	"guards.system_function" in rules(sf_input(["dba"], {"functions": ["system$get_privatelink_config"]}))
	not "guards.system_function" in rules(sf_input(["dba"], {"functions": ["system$wait"]}))
	not "guards.system_function" in rules_under(sf_input(["dba"], {"functions": ["system$whitelist"]}), entitled)
	not "guards.system_function" in rules(h.input_for(["dba"], {"functions": ["system$whitelist"]}))
}

test_result_scan_denied_even_when_entitled if {
	"guards.result_scan" in rules_under(sf_input(["dba"], {"functions": ["result_scan"]}), entitled)
}

test_opaque_message_names_the_engine_forms if {
	some r in guards.deny with input as sf_input(["dba"], {"opaque": true}) with data.classification as h.classification with data.access as h.access
	r.rule == "guards.opaque"
	contains(r.message, "EXECUTE IMMEDIATE")
	some p in guards.deny with input as h.input_for(["dba"], {"opaque": true}) with data.classification as h.classification with data.access as h.access
	p.rule == "guards.opaque"
	contains(p.message, "DO block")
}

test_insert_overwrite_needs_approval if {
	inp := sf_input(["dba"], {"kind": "insert", "command": "INSERT OVERWRITE", "writes": [{"schema": "CLINIC.PUBLIC", "table": "VISITS", "columns": ["ID"]}]})
	d := verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
	d.action == "approve"
	d.reasons == [{"rule": "approvals.overwrite", "message": "INSERT OVERWRITE CLINIC.PUBLIC.VISITS replaces every row"}]
}
