# Builders for test inputs, so each rule test states only what it is about, and the data every test
# evaluates the policy with.
package verdict.test_helpers

# The pinned test data (policy-tests/testdata/, loaded as data.testdata). Every test evaluates the policy
# with these in place of the shipped policies/classification/data.yaml and policies/access/data.yaml:
#   verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
# so a policy author can add tables, columns, roles and groups to the shipped data without breaking a test.
classification := data.testdata.classification

access := data.testdata.access

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
