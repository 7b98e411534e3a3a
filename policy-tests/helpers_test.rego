# Builders for test inputs, so each rule test states only what it is about.
package verdict.test_helpers

identity(groups) := {"sub": "alice", "email": "alice@example.com", "groups": groups, "issuer": "https://idp.test", "expires_at": null}

statement(overrides) := object.union(
	{
		"text": "", "kind": "select", "command": "SELECT", "reads": [], "writes": [],
		"has_where": false, "where_is_trivial": false, "functions": [], "predicates_on": [],
		"result_columns": [], "data_modifying_cte": false, "creates_table_from_query": false,
		"copy": null, "setting": null, "name": null, "unresolved": [], "nested": [], "opaque": false, "parse_error": null, "literal_dependent": false,
		"fingerprint": null, "index": 0, "count": 1, "parameters": [],
	},
	overrides,
)

input_for(groups, overrides) := {
	"version": 4,
	"identity": identity(groups),
	"connection": {"name": "default", "engine": "postgres", "database": "app", "front_door": "postgres", "client_addr": null, "application_name": null, "purpose": "treatment"},
	"statement": statement(overrides),
	"approval": null,
	"now": "2026-01-05T10:00:00Z",
}

col(table, column) := {"schema": "public", "table": table, "column": column}

result(name, sources, derived) := {"name": name, "sources": sources, "derived": derived}
