# Unit tests for verdict.masking: PHI is masked by type for roles not entitled to it, by lineage.
package verdict.masking_test

import data.verdict.masking
import data.verdict.test_helpers as h

masks(inp) := {sprintf("%s.%s:%s", [m.column.table, m.column.column, m.method]) | some m in ms} if {
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as h.access
}

test_ssn_partial_for_clinicians if {
	inp := h.input_for(["clinicians"], {"result_columns": [h.result("ssn", [h.col("patients", "ssn")], false)]})
	masks(inp) == {"patients.ssn:partial"}
}

test_entitled_type_not_masked if {
	inp := h.input_for(["clinicians"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]})
	count(masks(inp)) == 0
}

test_derived_value_masked_by_source if {
	inp := h.input_for(["analysts"], {"result_columns": [h.result("x", [h.col("patients", "email")], true)]})
	masks(inp) == {"patients.email:email"}
}

test_star_without_catalog_masks_every_phi_column if {
	inp := h.input_for(["analysts"], {"result_columns": [h.result("*", [h.col("visits", "*")], false)]})
	masks(inp) == {"visits.diagnosis:redact", "visits.notes:redact", "visits.visit_date:year"}
}

test_non_phi_column_not_masked if {
	inp := h.input_for(["analysts"], {"result_columns": [h.result("id", [h.col("patients", "id")], false)]})
	count(masks(inp)) == 0
}

test_mask_params_carried if {
	inp := h.input_for(["analysts"], {"result_columns": [h.result("ssn", [h.col("patients", "ssn")], false)]})
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as h.access
	some m in ms
	m.params == {"keep_last": 4}
}

# A type's method is for direct copies; values derived from the column get data.access.derived_mask, and
# the functions data.access.content_free_functions lists return none of its content.
test_mask_carries_derived_method_and_content_free_functions if {
	inp := h.input_for(["contractors"], {"result_columns": [h.result("s", [h.col("patients", "ssn")], true)]})
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as h.access
	some m in ms
	m.column.column == "ssn"
	m.method == "partial"
	m.derived == {"method": "redact", "params": {}}
	m.content_free == ["count"]
}

test_derived_mask_follows_the_data if {
	inp := h.input_for(["contractors"], {"result_columns": [h.result("s", [h.col("patients", "ssn")], true)]})
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as h.access with data.access.derived_mask as {"method": "null"}
	some m in ms
	m.derived == {"method": "null", "params": {}}
}

test_shape_keeping_derived_mask_falls_back_to_redact if {
	inp := h.input_for(["contractors"], {"result_columns": [h.result("s", [h.col("patients", "ssn")], true)]})
	every method in ["partial", "format_preserving", "email", "year"] {
		ms := masking.masks with input as inp with data.classification as h.classification with data.access as h.access with data.access.derived_mask as {"method": method}
		some m in ms
		m.derived == {"method": "redact", "params": {}}
	}
}

test_no_content_free_functions_without_the_list if {
	inp := h.input_for(["contractors"], {"result_columns": [h.result("c", [h.col("patients", "ssn")], true)]})
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as object.remove(h.access, ["content_free_functions"])
	some m in ms
	m.content_free == []
}

without_purpose(inp, purpose) := object.union(inp, {"connection": object.union(inp.connection, {"purpose": purpose})})

test_entitled_type_masked_without_a_purpose if {
	inp := without_purpose(h.input_for(["clinicians"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]}), null)
	masks(inp) == {"patients.name:redact"}
	some r in masking.reasons with input as inp with data.classification as h.classification with data.access as h.access
	r.rule == "masking.purpose_required"
	contains(r.message, "none was declared")
	contains(r.message, "verdict.purpose=treatment")
}

test_entitled_type_masked_for_an_unlisted_purpose if {
	inp := without_purpose(h.input_for(["clinicians"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]}), "curiosity")
	masks(inp) == {"patients.name:redact"}
	some r in masking.reasons with input as inp with data.classification as h.classification with data.access as h.access
	contains(r.message, "\"curiosity\" is not one of them")
}

test_purpose_not_required_when_the_data_says_so if {
	inp := without_purpose(h.input_for(["clinicians"], {"result_columns": [h.result("name", [h.col("patients", "name")], false)]}), null)
	ms := masking.masks with input as inp with data.classification as h.classification with data.access as object.union(h.access, {"purpose_required": false})
	count(ms) == 0
}
