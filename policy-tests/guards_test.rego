# Unit tests for verdict.guards: each deny rule fires on its case and stays quiet on a near miss.
package verdict.guards_test

import data.verdict.guards
import data.verdict.test_helpers as h

rules(inp) := {r.rule | some r in deny(inp)}

deny(inp) := d if {
	d := guards.deny with input as inp with data.classification as h.classification with data.access as h.access
}

test_no_role_denied if {
	"guards.no_role" in rules(h.input_for(["interns"], {}))
}

test_known_group_has_role if {
	not "guards.no_role" in rules(h.input_for(["clinicians"], {}))
}

test_unknown_statement_denied_with_parser_message if {
	inp := h.input_for(["dba"], {"kind": "unknown", "parse_error": "syntax error at or near \"SELEC\""})
	some r in deny(inp)
	r.rule == "guards.unparsed"
	contains(r.message, "SELEC")
}

test_dangerous_function_denied_qualified_or_not if {
	"guards.dangerous_function" in rules(h.input_for(["dba"], {"functions": ["pg_catalog.pg_read_file"]}))
	"guards.dangerous_function" in rules(h.input_for(["dba"], {"functions": ["dblink"]}))
	not "guards.dangerous_function" in rules(h.input_for(["dba"], {"functions": ["upper", "pg_catalog.format_type"]}))
}

test_dangerous_function_in_nested_statement if {
	nested := h.statement({"functions": ["lo_export"]})
	"guards.dangerous_function" in rules(h.input_for(["dba"], {"kind": "utility", "command": "DO", "nested": [nested]}))
}

test_opaque_denied if {
	"guards.opaque" in rules(h.input_for(["dba"], {"kind": "utility", "command": "DO", "opaque": true}))
}

test_server_side_copy_denied if {
	inp := h.input_for(["dba"], {"kind": "copy", "command": "COPY", "copy": {"direction": "to", "target": "program", "table": null}})
	some r in deny(inp)
	r.rule == "guards.server_side_copy"
	contains(r.message, "TO STDOUT")
}

test_copy_stdin_allowed if {
	inp := h.input_for(["dba"], {"kind": "copy", "command": "COPY", "copy": {"direction": "from", "target": "stdin", "table": {"schema": "public", "table": "t"}}})
	not "guards.server_side_copy" in rules(inp)
}

test_role_change_denied if {
	"guards.role_change" in rules(h.input_for(["dba"], {"kind": "utility", "command": "SET ROLE"}))
}

test_dcl_denied if {
	"guards.privileges" in rules(h.input_for(["dba"], {"kind": "dcl", "command": "GRANT"}))
}

test_schema_outside_role_denied if {
	inp := h.input_for(["clinicians"], {"reads": [{"schema": "billing", "table": "invoices", "columns": ["id"]}]})
	"guards.schema" in rules(inp)
	inp2 := h.input_for(["billing"], {"reads": [{"schema": "billing", "table": "invoices", "columns": ["id"]}]})
	not "guards.schema" in rules(inp2)
}

test_catalog_readable_by_every_role if {
	inp := h.input_for(["analysts"], {"reads": [{"schema": "pg_catalog", "table": "pg_class", "columns": ["relname"]}]})
	count(rules(inp)) == 0
}

test_catalog_write_denied if {
	inp := h.input_for(["dba"], {"kind": "update", "writes": [{"schema": "pg_catalog", "table": "pg_class", "columns": ["relname"]}]})
	"guards.catalog_write" in rules(inp)
}

test_sensitive_catalog_only_for_dba if {
	reads := {"reads": [{"schema": "pg_catalog", "table": "pg_stats", "columns": ["most_common_vals"]}]}
	"guards.sensitive_catalog" in rules(h.input_for(["analysts"], reads))
	not "guards.sensitive_catalog" in rules(h.input_for(["dba"], reads))
}

test_whole_row_of_phi_table_denied if {
	rc := h.result("row_to_json", [h.col("patients", "*")], true)
	"guards.whole_row_phi" in rules(h.input_for(["analysts"], {"result_columns": [rc]}))
}

test_whole_row_of_plain_table_allowed if {
	rc := h.result("row_to_json", [h.col("appointments", "*")], true)
	not "guards.whole_row_phi" in rules(h.input_for(["analysts"], {"result_columns": [rc]}))
}

test_search_path_change_denied if {
	"guards.search_path" in rules(h.input_for(["dba"], {"kind": "utility", "command": "SET", "setting": "search_path"}))
	"guards.search_path" in rules(h.input_for(["dba"], {"kind": "utility", "command": "RESET", "setting": "search_path"}))
	not "guards.search_path" in rules(h.input_for(["dba"], {"kind": "utility", "command": "SHOW", "setting": "search_path"}))
	not "guards.search_path" in rules(h.input_for(["dba"], {"kind": "utility", "command": "SET", "setting": "work_mem"}))
}

test_predicate_on_masked_phi_denied if {
	pred := {"predicates_on": [h.col("patients", "ssn")]}
	"guards.phi_predicate" in rules(h.input_for(["analysts"], pred))
	"guards.phi_predicate" in rules(h.input_for(["clinicians"], pred)) # clinicians see SSNs masked too
	not "guards.phi_predicate" in rules(h.input_for(["clinicians"], {"predicates_on": [h.col("patients", "name")]}))
	not "guards.phi_predicate" in rules(h.input_for(["analysts"], {"predicates_on": [h.col("patients", "id")]}))
}

test_dynamic_sql_denied if {
	"guards.unresolved" in rules(h.input_for(["dba"], {"unresolved": [{"reason": "dynamic_sql: query_to_xml"}]}))
}

test_unresolved_lineage_over_masked_phi_denied if {
	over_phi := {"unresolved": [{"reason": "unknown_function: f"}], "reads": [{"schema": "public", "table": "patients", "columns": ["ssn"]}]}
	"guards.unresolved" in rules(h.input_for(["analysts"], over_phi))
	plain := {"unresolved": [{"reason": "unknown_function: f"}], "reads": [{"schema": "public", "table": "appointments", "columns": ["id"]}]}
	not "guards.unresolved" in rules(h.input_for(["analysts"], plain))
}

test_copying_masked_phi_denied if {
	reads := [{"schema": "public", "table": "patients", "columns": ["ssn"]}]
	"guards.phi_copy" in rules(h.input_for(["analysts"], {"kind": "insert", "command": "INSERT", "reads": reads}))
	"guards.phi_copy" in rules(h.input_for(["analysts"], {"kind": "ddl", "command": "CREATE TABLE AS", "creates_table_from_query": true, "reads": reads}))
	"guards.phi_copy" in rules(h.input_for(["analysts"], {"kind": "ddl", "command": "CREATE VIEW", "reads": [{"schema": "public", "table": "patients", "columns": ["*"]}]}))
	not "guards.phi_copy" in rules(h.input_for(["analysts"], {"kind": "insert", "command": "INSERT", "reads": [{"schema": "public", "table": "patients", "columns": ["id"]}]}))
	not "guards.phi_copy" in rules(h.input_for(["analysts"], {"kind": "select", "command": "SELECT", "reads": reads}))
}

explain_of(options, inner) := {"kind": "utility", "command": "EXPLAIN", "explain_options": options, "nested": [h.statement(inner)]}

ssn_read := {"kind": "select", "command": "SELECT", "reads": [{"schema": "public", "table": "patients", "columns": ["ssn"]}]}

test_explain_analyze_of_masked_phi_denied if {
	"guards.explain_phi" in rules(h.input_for(["contractors"], explain_of(["analyze"], ssn_read)))
	"guards.explain_phi" in rules(h.input_for(["contractors"], explain_of(["verbose", "format"], ssn_read)))
}

test_plain_explain_and_entitled_explain_analyze_allowed if {
	not "guards.explain_phi" in rules(h.input_for(["contractors"], explain_of(["format"], ssn_read)))
	name_read := {"kind": "select", "command": "SELECT", "reads": [{"schema": "public", "table": "patients", "columns": ["name"]}]}
	not "guards.explain_phi" in rules(h.input_for(["clinicians"], explain_of(["analyze"], name_read)))
}

test_unmeasurable_write_denied if {
	br := {"method": "count", "rows": null, "table_rows": null, "error": "it calls random"}
	"guards.blast_radius_unmeasurable" in rules(h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "has_where": true, "blast_radius": br}))
	ok := {"method": "count", "rows": 1, "table_rows": 2, "error": null}
	not "guards.blast_radius_unmeasurable" in rules(h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "has_where": true, "blast_radius": ok}))
}
