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
	"mode": data.access.approval.mode,
}
