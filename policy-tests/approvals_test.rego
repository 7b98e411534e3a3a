# Unit tests for verdict.approvals: what needs a human, and when an approval counts.
package verdict.approvals_test

import data.verdict.approvals
import data.verdict.test_helpers as h

required(inp) := {r.rule | some r in req} if {
	req := approvals.required with input as inp with data.classification as h.classification with data.access as h.access
}

patients_write := [{"schema": "public", "table": "patients", "columns": ["*"]}]

test_delete_without_where_needs_approval if {
	"approvals.unfiltered_write" in required(h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "writes": patients_write}))
}

test_delete_with_trivial_where_needs_approval if {
	inp := h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "writes": patients_write, "has_where": true, "where_is_trivial": true})
	"approvals.unfiltered_write" in required(inp)
}

test_delete_with_where_runs if {
	br := {"method": "count", "rows": 1, "table_rows": 100, "error": null}
	inp := h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "writes": patients_write, "has_where": true, "blast_radius": br})
	count(required(inp)) == 0
}

test_delete_with_where_is_measured_first if {
	inp := h.input_for(["dba"], {"kind": "delete", "command": "DELETE", "writes": patients_write, "has_where": true})
	required(inp) == {"approvals.blast_radius_unmeasured"}
	approvals.measure == {"blast_radius"} with input as inp with data.classification as h.classification with data.access as h.access
}

test_blast_radius_thresholds if {
	base := {"kind": "update", "command": "UPDATE", "writes": patients_write, "has_where": true}
	small := object.union(base, {"blast_radius": {"method": "count", "rows": 1, "table_rows": 3, "error": null}})
	count(required(h.input_for(["dba"], small))) == 0
	share := object.union(base, {"blast_radius": {"method": "count", "rows": 30, "table_rows": 100, "error": null}})
	required(h.input_for(["dba"], share)) == {"approvals.blast_radius"}
	many := object.union(base, {"blast_radius": {"method": "count", "rows": 1001, "table_rows": 1000000, "error": null}})
	required(h.input_for(["dba"], many)) == {"approvals.blast_radius"}
}

test_plain_explain_and_prepare_are_not_measured if {
	inner := h.statement({"kind": "delete", "command": "DELETE", "writes": patients_write, "has_where": true})
	count(required(h.input_for(["dba"], {"kind": "utility", "command": "EXPLAIN", "explain_options": [], "nested": [inner]}))) == 0
	count(required(h.input_for(["dba"], {"kind": "utility", "command": "PREPARE", "nested": [inner]}))) == 0
	"approvals.blast_radius_unmeasured" in required(h.input_for(["dba"], {"kind": "utility", "command": "EXPLAIN", "explain_options": ["analyze"], "nested": [inner]}))
	merge := h.statement({"kind": "merge", "command": "MERGE", "writes": patients_write})
	"approvals.blast_radius_unmeasured" in required(h.input_for(["dba"], {"kind": "utility", "command": "DO", "nested": [merge]}))
	"approvals.blast_radius_unmeasured" in required(h.input_for(["dba"], {"kind": "merge", "command": "MERGE", "writes": patients_write}))
}

test_truncate_needs_approval if {
	"approvals.truncate" in required(h.input_for(["dba"], {"kind": "ddl", "command": "TRUNCATE", "writes": patients_write}))
}

test_ddl_needs_approval if {
	"approvals.ddl" in required(h.input_for(["dba"], {"kind": "ddl", "command": "DROP TABLE"}))
}

test_nested_delete_needs_approval if {
	nested := h.statement({"kind": "delete", "command": "DELETE", "writes": patients_write})
	"approvals.unfiltered_write" in required(h.input_for(["dba"], {"kind": "utility", "command": "DO", "nested": [nested]}))
}

test_granted_needs_min_distinct_approvers if {
	inp := object.union(h.input_for(["dba"], {"kind": "ddl", "command": "DROP TABLE"}), {"approval": {"request_id": "r1", "approved_by": ["bob"], "review_ids": ["1"]}})
	approvals.granted with input as inp with data.classification as h.classification with data.access as h.access
	none := object.union(inp, {"approval": {"request_id": "r1", "approved_by": [], "review_ids": []}})
	not approvals.granted with input as none with data.classification as h.classification with data.access as h.access
}

test_break_glass_needs_group_and_reason if {
	text := "/* break-glass: restore after incident 4711 */ DELETE FROM patients"
	stmt := {"kind": "delete", "command": "DELETE", "writes": patients_write, "text": text}
	approvals.break_glass_reason == "restore after incident 4711" with input as h.input_for(["dba", "break-glass"], stmt) with data.classification as h.classification with data.access as h.access
	not approvals.break_glass with input as h.input_for(["dba"], stmt) with data.classification as h.classification with data.access as h.access
	no_reason := object.union(stmt, {"text": "/* break-glass:   */ DELETE FROM patients"})
	not approvals.break_glass with input as h.input_for(["dba", "break-glass"], no_reason) with data.classification as h.classification with data.access as h.access
	later := object.union(stmt, {"text": "DELETE FROM patients /* break-glass: x */"})
	not approvals.break_glass with input as h.input_for(["dba", "break-glass"], later) with data.classification as h.classification with data.access as h.access
}

test_break_glass_groups_and_reviewers_come_from_data if {
	stmt := {"kind": "delete", "command": "DELETE", "writes": patients_write, "text": "/* break-glass: INC-1 */ DELETE FROM patients"}
	inp := h.input_for(["dba", "break-glass"], stmt)
	review := approvals.break_glass_review with input as inp with data.classification as h.classification with data.access as h.access
	review == {"approvers": ["team:break-glass-review"], "min_approvals": 1, "ttl_seconds": 604800, "mode": "break_glass"}

	# Another group, other reviewers: only the data says who.
	other := json.patch(h.access, [
		{"op": "replace", "path": "/approval/break_glass/groups", "value": ["sre-oncall"]},
		{"op": "replace", "path": "/approval/break_glass/reviewers", "value": ["team:sre-leads"]},
	])
	not approvals.break_glass with input as inp with data.classification as h.classification with data.access as other
	not approvals.uncacheable with input as inp with data.classification as h.classification with data.access as other
	oncall := h.input_for(["dba", "sre-oncall"], stmt)
	approvals.break_glass with input as oncall with data.classification as h.classification with data.access as other
	approvals.uncacheable with input as oncall with data.classification as h.classification with data.access as other
	r := approvals.break_glass_review with input as oncall with data.classification as h.classification with data.access as other
	r.approvers == ["team:sre-leads"]

	# No reviewers, or no break_glass section: no break-glass; the statement waits for approval as usual.
	no_reviewers := json.patch(h.access, [{"op": "replace", "path": "/approval/break_glass/reviewers", "value": []}])
	not approvals.break_glass with input as inp with data.classification as h.classification with data.access as no_reviewers
	no_section := json.remove(h.access, ["approval/break_glass"])
	not approvals.break_glass with input as inp with data.classification as h.classification with data.access as no_section
	not approvals.uncacheable with input as inp with data.classification as h.classification with data.access as no_section
}

mode(inp) := m if {
	m := approvals.requirement.mode with input as inp with data.classification as h.classification with data.access as h.access
}

test_people_wait_by_default if {
	mode(h.input_for(["dba"], {"kind": "delete", "command": "DELETE"})) == "hold"
}

test_ci_group_gets_rerun if {
	mode(h.input_for(["dba", "ci"], {"kind": "delete", "command": "DELETE"})) == "rerun"
}

test_application_name_exact_and_prefix_get_rerun if {
	inp := h.input_for(["dba"], {"kind": "delete", "command": "DELETE"})
	mode(object.union(inp, {"connection": {"application_name": "verdict-mcp"}})) == "rerun"
	mode(object.union(inp, {"connection": {"application_name": "ci-nightly-export"}})) == "rerun"
	mode(object.union(inp, {"connection": {"application_name": "psql"}})) == "hold"
	mode(object.union(inp, {"connection": {"application_name": "verdict-mcp-2"}})) == "hold"
}

test_configured_default_mode_applies if {
	inp := h.input_for(["dba"], {"kind": "delete", "command": "DELETE"})
	m := approvals.requirement.mode with input as inp with data.classification as h.classification with data.access as h.access with data.access.approval.mode as "rerun"
	m == "rerun"
}

test_upserts_are_measured if {
	upsert := {"kind": "insert", "command": "INSERT", "writes": patients_write, "on_conflict": "update"}
	required(h.input_for(["dba"], upsert)) == {"approvals.blast_radius_unmeasured"}
	count(required(h.input_for(["dba"], object.union(upsert, {"on_conflict": "nothing"})))) == 0
	nested := h.statement(upsert)
	"approvals.blast_radius_unmeasured" in required(h.input_for(["dba"], {"kind": "utility", "command": "DO", "nested": [nested]}))
}
