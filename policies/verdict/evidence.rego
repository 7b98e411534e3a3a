# What the evidence may keep readable: bind parameters that meet PHI (compared with, combined with or written to
# a PHI column) are recorded keyed-hashed, never raw. Contract: docs/decision-contract.md (sensitive_parameters).
package verdict.evidence

import data.verdict.masking
import data.verdict.statements

phi_column(c) if masking.phi_type(c.schema, c.table, c.column)

# Positions ($1 = 1) of parameters that meet a PHI column.
sensitive contains p.position if {
	some p in input.statement.parameters
	some c in p.columns
	phi_column(c)
}

# When the analysis cannot tell which column a parameter meets (null), any parameter of a statement that
# touches PHI may carry it.
all_sensitive if {
	input.statement.parameters == null
	some s in statements.all
	some t in array.concat(s.reads, s.writes)
	object.get(data.classification.phi, statements.qualified(t), null) != null
}

# The decision's `sensitive_parameters`: "all", the sorted positions, or undefined when none.
sensitive_parameters := "all" if {
	all_sensitive
} else := sort([p | some p in sensitive]) if {
	count(sensitive) > 0
}

# What they saw: where a statement shows PHI unmasked (an entitled role, for a declared purpose), the evidence
# keeps the delivered rows, bounded, encrypted to the auditors' keys (data.access.capture_results).
capture_rows := {"max_rows": c.max_rows, "max_bytes": c.max_bytes} if {
	c := data.access.capture_results
	some e in masking.exposed
	masking.entitled(e.type)
}

# The accounting of disclosures: PHI columns the statement's results show unmasked (masked ones are the masks).
unmasked_phi contains {"schema": src.schema, "table": src.table, "column": src.column} if {
	some s in statements.all
	some rc in s.result_columns
	some src in rc.sources
	src.column != "*"
	type := masking.phi_type(src.schema, src.table, src.column)
	masking.entitled(type)
}
