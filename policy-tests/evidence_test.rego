# Unit tests for verdict.evidence: which bind parameters the evidence records keyed-hashed.
package verdict.evidence_test

import data.verdict.evidence
import data.verdict.test_helpers as h

param(position, columns) := {"position": position, "columns": columns}

test_parameter_compared_with_phi_is_sensitive if {
	inp := h.input_for(["clinicians"], {"parameters": [param(1, [h.col("patients", "ssn")]), param(2, [h.col("patients", "id")]), param(3, [])]})
	evidence.sensitive_parameters == [1] with input as inp with data.classification as h.classification with data.access as h.access
}

test_no_phi_no_sensitive_parameters if {
	inp := h.input_for(["clinicians"], {"parameters": [param(1, [h.col("patients", "id")])]})
	not evidence.sensitive_parameters with input as inp with data.classification as h.classification with data.access as h.access
}

test_unknown_parameters_of_a_phi_statement_are_all_sensitive if {
	inp := h.input_for(["clinicians"], {"parameters": null, "reads": [{"schema": "public", "table": "patients", "columns": ["id"]}]})
	evidence.sensitive_parameters == "all" with input as inp with data.classification as h.classification with data.access as h.access
}

test_unknown_parameters_without_phi_are_not if {
	inp := h.input_for(["clinicians"], {"parameters": null, "reads": [{"schema": "public", "table": "appointments", "columns": ["id"]}]})
	not evidence.sensitive_parameters with input as inp with data.classification as h.classification with data.access as h.access
}

test_decision_carries_sensitive_parameters if {
	inp := h.input_for(["clinicians"], {
		"parameters": [param(1, [h.col("patients", "id")]), param(2, [h.col("patients", "ssn")])],
		"reads": [{"schema": "public", "table": "patients", "columns": ["id"]}],
		"predicates_on": [h.col("patients", "id"), h.col("patients", "ssn")],
	})
	d := data.verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
	d.sensitive_parameters == [2]
}

test_unmasked_phi_asks_for_the_rows if {
	inp := h.input_for(["clinicians"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]})
	evidence.capture_rows == {"max_rows": 100, "max_bytes": 65536} with input as inp with data.classification as h.classification with data.access as h.access
	d := data.verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
	d.capture_rows.max_rows == 100
}

test_masked_phi_keeps_only_a_digest if {
	inp := h.input_for(["contractors"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]})
	not evidence.capture_rows with input as inp with data.classification as h.classification with data.access as h.access
}

test_unmasked_phi_lists_what_an_entitled_role_sees if {
	inp := h.input_for(["clinicians"], {"result_columns": [
		h.result("name", [h.col("patients", "name")], false),
		h.result("ssn", [h.col("patients", "ssn")], false),
		h.result("id", [h.col("patients", "id")], false),
	]})
	evidence.unmasked_phi == {h.col("patients", "name")} with input as inp with data.classification as h.classification with data.access as h.access
	d := data.verdict.decision with input as inp with data.classification as h.classification with data.access as h.access
	d.unmasked_phi == [h.col("patients", "name")]
}
