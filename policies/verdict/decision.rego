# The entrypoint: combines the rule packages into one decision for one SQL statement.
# Precedence: deny > approve (unless approved) > mask > allow. Contract: docs/decision-contract.md.
package verdict

import data.verdict.approvals
import data.verdict.evidence
import data.verdict.guards
import data.verdict.masking

default_allow := {"rule": "verdict.allow", "message": "no rule restricts this statement"}

approval_pending if {
	count(approvals.required) > 0
	not approvals.granted
	not approvals.break_glass
}

action := "deny" if {
	count(guards.deny) > 0
} else := "approve" if {
	approval_pending
} else := "mask" if {
	count(masking.masks) > 0
} else := "allow"

reasons := sort_reasons(guards.deny) if {
	action == "deny"
} else := sort_reasons(approvals.required) if {
	action == "approve"
} else := array.concat(sort_reasons(masking.reasons), sort_reasons(approvals.break_glass_reasons)) if {
	action == "mask"
} else := array.concat(array.concat(sort_reasons(approvals.granted_reasons), sort_reasons(approvals.break_glass_reasons)), [default_allow])

sort_reasons(set) := [r | some k in sort([[x.rule, x.message] | some x in set]); r := {"rule": k[0], "message": k[1]}]

# Masks are sorted for a deterministic decision (and a stable decision hash).
sorted_masks := [k[3] | some k in sort([[m.column.schema, m.column.table, m.column.column, m] | some m in masking.masks])]

# When the policy needs a measured fact (the blast radius of a write), the decision says so; the gateway
# measures and asks again with the fact in the input.
decision := object.union(captured_document, {"unmasked_phi": sorted_unmasked}) if {
	count(evidence.unmasked_phi) > 0
} else := captured_document

sorted_unmasked := [k[3] | some k in sort([[c.schema, c.table, c.column, c] | some c in evidence.unmasked_phi])]

captured_document := object.union(parameters_document, {"capture_rows": evidence.capture_rows}) if {
	evidence.capture_rows
} else := parameters_document

parameters_document := object.union(measured_document, {"sensitive_parameters": evidence.sensitive_parameters}) if {
	evidence.sensitive_parameters
} else := measured_document

measured_document := object.union(decision_document, {"measure": sort([m | some m in approvals.measure])}) if {
	count(approvals.measure) > 0
} else := decision_document

decision_document := {
	"action": action,
	"reasons": reasons,
	"masks": sorted_masks,
	"approval": approvals.requirement,
} if {
	action == "approve"
} else := {
	"action": action,
	"reasons": reasons,
	"masks": sorted_masks,
	"approval": approvals.break_glass_review,
	"cacheable": false,
} if {
	# Break-glass ran it at once (allow or mask): `approval` names who reviews it after the fact.
	count(approvals.break_glass_reasons) > 0
} else := {
	"action": action,
	"reasons": reasons,
	"masks": sorted_masks,
	"cacheable": false,
} if {
	approvals.uncacheable
} else := {
	"action": action,
	"reasons": reasons,
	"masks": sorted_masks,
}
