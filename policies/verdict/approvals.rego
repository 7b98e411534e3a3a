# Approval rules: statements a human must sign off before they run (bulk changes and DDL).
package verdict.approvals

import data.verdict.statements

required contains {"rule": "approvals.unfiltered_write", "message": msg} if {
	some s in statements.all
	s.kind in {"update", "delete"}
	not effective_where(s)
	some t in s.writes
	msg := sprintf("%s on %s without an effective WHERE clause changes every row", [s.command, statements.qualified(t)])
}

required contains {"rule": "approvals.truncate", "message": msg} if {
	some s in statements.all
	s.command == "TRUNCATE"
	msg := sprintf("TRUNCATE %s removes every row", [concat(", ", [statements.qualified(t) | some t in s.writes])])
}

# Snowflake's INSERT OVERWRITE empties the table before it inserts: every row is replaced, as by TRUNCATE.
required contains {"rule": "approvals.overwrite", "message": msg} if {
	some s in statements.all
	s.command == "INSERT OVERWRITE"
	msg := sprintf("INSERT OVERWRITE %s replaces every row", [concat(", ", [statements.qualified(t) | some t in s.writes])])
}

required contains {"rule": "approvals.ddl", "message": msg} if {
	some s in statements.all
	s.kind == "ddl"
	s.command != "TRUNCATE"
	msg := sprintf("%s changes the schema", [s.command])
}

effective_where(s) if {
	s.has_where
	not s.where_is_trivial
}

# Blast radius: how many rows a write would really change is measured by the gateway (decision.measure;
# a count over the same target and predicate just before the write), not guessed from the text. Above the
# thresholds in data.access.approval.blast_radius a human approves; what cannot be measured is refused
# (guards.blast_radius_unmeasurable).
measured_write if {
	input.statement.kind in {"update", "delete"}
	effective_where(input.statement)
}

measured_write if input.statement.kind == "merge"

# INSERT ... ON CONFLICT DO UPDATE changes existing rows too.
measured_write if object.get(input.statement, "on_conflict", null) == "update"

# Filtered writes run by a DO block, a data-modifying WITH, a function body or EXPLAIN ANALYZE: measured too
# (which fails for all but EXPLAIN ANALYZE of one plain write, and so refuses). Statements that only define
# (PREPARE, CREATE FUNCTION, plain EXPLAIN) run nothing now.
measured_write if {
	executes_nested
	some s in input.statement.nested
	s.kind in {"update", "delete"}
	effective_where(s)
}

measured_write if {
	executes_nested
	some s in input.statement.nested
	s.kind == "merge"
}

measured_write if {
	executes_nested
	some s in input.statement.nested
	object.get(s, "on_conflict", null) == "update"
}

executes_nested if {
	not input.statement.command in {"PREPARE", "DECLARE CURSOR", "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE VIEW", "CREATE MATERIALIZED VIEW", "CREATE RULE", "EXPLAIN"}
}

executes_nested if {
	input.statement.command == "EXPLAIN"
	"analyze" in object.get(input.statement, "explain_options", [])
}

measure contains "blast_radius" if {
	measured_write
	object.get(input.statement, "blast_radius", null) == null
}

# A front door that cannot measure keeps the first decision: it must be safe on its own.
required contains {"rule": "approvals.blast_radius_unmeasured", "message": msg} if {
	measured_write
	object.get(input.statement, "blast_radius", null) == null
	msg := sprintf("%s: how many rows it changes was not measured, so a human must approve it", [input.statement.command])
}

required contains {"rule": "approvals.blast_radius", "message": msg} if {
	measured_write
	br := input.statement.blast_radius
	br.error == null
	over_blast_radius(br)
	msg := sprintf("%s would change %d of the %d rows of %s (a human approves more than %d rows, or more than %v%% of a table)", [
		input.statement.command, br.rows, br.table_rows,
		concat(", ", [statements.qualified(t) | some t in input.statement.writes]),
		data.access.approval.blast_radius.max_rows, data.access.approval.blast_radius.max_share * 100,
	])
}

over_blast_radius(br) if br.rows > data.access.approval.blast_radius.max_rows

over_blast_radius(br) if {
	br.rows > 1
	br.rows > data.access.approval.blast_radius.max_share * br.table_rows
}

# An approval in the input was checked by the gateway (exact statement, reviewers, expiry);
# the policy only requires enough distinct approvers.
granted if {
	count({a | some a in input.approval.approved_by}) >= data.access.approval.min_approvals
}

granted_reasons contains {"rule": "approvals.granted", "message": msg} if {
	count(required) > 0
	granted
	msg := sprintf("approved by %s (request %s)", [concat(", ", sort(input.approval.approved_by)), input.approval.request_id])
}

requirement := {
	"approvers": data.access.approval.approvers,
	"min_approvals": data.access.approval.min_approvals,
	"ttl_seconds": data.access.approval.ttl_seconds,
	"mode": mode,
}

# Hold (wait with a NOTICE) suits people at a terminal; clients that show no NOTICE (MCP servers, CI jobs,
# service accounts) get an immediate error with the request id and link, and run the statement again.
default mode := "hold"

mode := "rerun" if rerun_client

mode := data.access.approval.mode if {
	not rerun_client
	data.access.approval.mode != "hold"
}

rerun_client if {
	some group in input.identity.groups
	group in object.get(data.access.approval, ["rerun_for", "groups"], [])
}

rerun_client if {
	some pattern in object.get(data.access.approval, ["rerun_for", "application_names"], [])
	application_name_matches(pattern, input.connection.application_name)
}

application_name_matches(pattern, name) if {
	not endswith(pattern, "*")
	pattern == name
}

application_name_matches(pattern, name) if {
	endswith(pattern, "*")
	startswith(name, trim_suffix(pattern, "*"))
}

# Break-glass: a member of one of data.access.approval.break_glass.groups may run a statement that needs
# approval at once, by stating a reason in a leading comment: /* break-glass: <reason> */ DELETE ... The
# decision then carries who reviews it after the fact (break_glass_review, from the same data); the gateway
# files the request for them, labelled break-glass, and the evidence records the reason.
break_glass_member if {
	some group in input.identity.groups
	group in object.get(data.access.approval, ["break_glass", "groups"], [])
}

break_glass_reason := trim_space(m[0][1]) if {
	break_glass_member
	m := regex.find_all_string_submatch_n(`^\s*/\*\s*break-glass:\s*([^*]*[^*\s])\s*\*/`, input.statement.text, 1)
	count(m) == 1
	trim_space(m[0][1]) != ""
}

# Without reviewers there is no break-glass: the statement waits for approval like any other.
break_glass if {
	break_glass_reason
	break_glass_review
}

# The after-the-fact review (the decision's `approval`, mode break_glass): who reviews, how many, for how long.
break_glass_review := {
	"approvers": bg.reviewers,
	"min_approvals": object.get(bg, "min_approvals", 1),
	"ttl_seconds": object.get(bg, "ttl_seconds", 604800),
	"mode": "break_glass",
} if {
	bg := data.access.approval.break_glass
	count(bg.reviewers) > 0
}

break_glass_reasons contains {"rule": "approvals.break_glass", "message": msg} if {
	count(required) > 0
	break_glass
	msg := sprintf("break-glass by %s: %s (approval requested after the fact)", [input.identity.sub, break_glass_reason])
}

# A break-glass member's decisions depend on the statement's comment, which the fingerprint ignores.
uncacheable if break_glass_member
