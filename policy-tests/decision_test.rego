# Unit tests for the entrypoint: precedence deny > approve > mask > allow and the decision's shape.
package verdict.decision_test

import data.verdict
import data.verdict.test_helpers as h

decision(inp) := d if {
	d := verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
}

test_plain_select_allowed if {
	d := decision(h.input_for(["analysts"], {"reads": [{"schema": "public", "table": "appointments", "columns": ["id"]}]}))
	d.action == "allow"
	d.reasons == [{"rule": "verdict.allow", "message": "no rule restricts this statement"}]
	d.masks == []
	not d.approval
}

test_deny_beats_approve_and_mask if {
	d := decision(h.input_for(["analysts"], {
		"kind": "delete", "command": "DELETE", "functions": ["pg_read_file"],
		"writes": [{"schema": "public", "table": "patients", "columns": ["*"]}],
		"result_columns": [h.result("ssn", [h.col("patients", "ssn")], false)],
	}))
	d.action == "deny"
	{r.rule | some r in d.reasons} == {"guards.dangerous_function"}
}

test_approve_carries_requirement_and_masks if {
	d := decision(h.input_for(["analysts"], {
		"kind": "delete", "command": "DELETE",
		"writes": [{"schema": "public", "table": "patients", "columns": ["*"]}],
		"result_columns": [h.result("ssn", [h.col("patients", "ssn")], false)],
	}))
	d.action == "approve"
	d.approval.min_approvals == 1
	d.approval.mode == "hold"
	"ssn" in {m.column.column | some m in d.masks}
}

test_approved_statement_runs_with_reason if {
	inp := object.union(
		h.input_for(["dba"], {"kind": "ddl", "command": "DROP TABLE"}),
		{"approval": {"request_id": "req-1", "approved_by": ["bob"], "review_ids": ["9"]}},
	)
	d := decision(inp)
	d.action == "allow"
	{r.rule | some r in d.reasons} == {"approvals.granted", "verdict.allow"}
}

test_mask_decision_sorted if {
	d := decision(h.input_for(["analysts"], {"result_columns": [
		h.result("ssn", [h.col("patients", "ssn")], false),
		h.result("email", [h.col("patients", "email")], false),
	]}))
	d.action == "mask"
	[m.column.column | some m in d.masks] == ["email", "ssn"]
	{r.rule | some r in d.reasons} == {"masking.phi"}
}

test_break_glass_runs_with_its_reviewers_in_the_decision if {
	text := "/* break-glass: INC-4711 */ DELETE FROM appointments"
	d := decision(h.input_for(["dba", "break-glass"], {"kind": "delete", "command": "DELETE", "text": text, "writes": [{"schema": "public", "table": "appointments", "columns": ["*"]}]}))
	d.action == "allow"
	{r.rule | some r in d.reasons} == {"approvals.break_glass", "verdict.allow"}
	d.approval == {"approvers": ["team:break-glass-review"], "min_approvals": 1, "ttl_seconds": 604800, "mode": "break_glass"}
	d.cacheable == false
}

# A break-glass statement that also masks (DELETE ... RETURNING ssn) still says it was break-glass, with its
# reviewers: otherwise it would run with no review filed.
test_break_glass_that_masks_keeps_its_reason_and_reviewers if {
	text := "/* break-glass: INC-4711 */ DELETE FROM patients RETURNING ssn"
	d := decision(h.input_for(["dba", "break-glass"], {
		"kind": "delete", "command": "DELETE", "text": text,
		"writes": [{"schema": "public", "table": "patients", "columns": ["*"]}],
		"result_columns": [h.result("ssn", [h.col("patients", "ssn")], false)],
	}))
	d.action == "mask"
	{r.rule | some r in d.reasons} == {"approvals.break_glass", "masking.phi"}
	d.approval.approvers == ["team:break-glass-review"]
	d.approval.mode == "break_glass"
}
