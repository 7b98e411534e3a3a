# Masking rules: PHI in result columns is masked, by PHI type, for roles not entitled to that type.
# Masks name source columns; the gateway masks every result column derived from one (lineage): a direct
# copy with the type's method, anything else derived with `derived_mask`, content-free calls (count) not at all.
package verdict.masking

import data.verdict.statements

phi_type(schema, table, column) := data.classification.phi[concat(".", [schema, table])][column]

# A role sees a PHI type unmasked when it is entitled to the type and, where the data requires it, the
# statement is made for a declared purpose of use the data lists.
entitled(type) if {
	role_entitled(type)
	purpose_accepted
}

role_entitled(type) if {
	some cfg in statements.role_config
	type in cfg.phi_types
}

purpose := object.get(input, ["connection", "purpose"], null)

purpose_accepted if not data.access.purpose_required

purpose_accepted if purpose in data.access.purposes

# PHI columns that reach the client: result columns (incl. RETURNING), per source.
exposed contains {"schema": src.schema, "table": src.table, "column": src.column, "type": type} if {
	some s in statements.all
	some rc in s.result_columns
	some src in rc.sources
	src.column != "*"
	type := phi_type(src.schema, src.table, src.column)
}

# A plain `*` the analysis could not expand: every PHI column of the table may be in the result.
exposed contains {"schema": src.schema, "table": src.table, "column": column, "type": type} if {
	some s in statements.all
	some rc in s.result_columns
	not rc.derived
	some src in rc.sources
	src.column == "*"
	some column, type in data.classification.phi[concat(".", [src.schema, src.table])]
}

# PHI a statement reads or writes without returning it (WHERE of a DELETE, a SET target, a unique key):
# masked too, so the gateway withholds error and notice text that could quote those values.
exposed contains {"schema": t.schema, "table": t.table, "column": column, "type": type} if {
	some s in statements.all
	some t in array.concat(s.reads, s.writes)
	some column in t.columns
	column != "*"
	type := phi_type(t.schema, t.table, column)
}

exposed contains {"schema": t.schema, "table": t.table, "column": column, "type": type} if {
	some s in statements.all
	some t in array.concat(s.reads, s.writes)
	"*" in t.columns
	some column, type in data.classification.phi[concat(".", [t.schema, t.table])]
}

# A write can fail with an error that quotes the whole row it was writing ("Failing row contains (…)" of a
# NOT NULL or CHECK violation, a key of a unique violation): every PHI column of a written table counts as
# exposed, so the gateway withholds error and notice text of the statement from roles not entitled to it.
exposed contains {"schema": t.schema, "table": t.table, "column": column, "type": type} if {
	some s in statements.all
	some t in s.writes
	some column, type in data.classification.phi[concat(".", [t.schema, t.table])]
}

# `method` is for direct copies of the column; `derived` for any other value computed from it; functions in
# `content_free` return none of its content (data.access.derived_mask / content_free_functions).
masks contains {
	"column": {"schema": e.schema, "table": e.table, "column": e.column},
	"method": m.method,
	"params": object.get(m, "params", {}),
	"derived": derived_mask,
	"content_free": content_free,
} if {
	some e in exposed
	not entitled(e.type)
	m := object.get(data.access.masking, e.type, data.access.default_mask)
}

default derived_mask := {"method": "redact", "params": {}}

derived_mask := {"method": d.method, "params": object.get(d, "params", {})} if {
	d := data.access.derived_mask
	not d.method in shape_keeping
}

shape_keeping := {"partial", "format_preserving", "email", "year"}

content_free := sort([f | some f in object.get(data.access, "content_free_functions", [])])

reasons contains {"rule": "masking.phi", "message": msg} if {
	some e in exposed
	not role_entitled(e.type)
	msg := sprintf("%s.%s.%s is PHI (%s) and your roles are not entitled to it", [e.schema, e.table, e.column, e.type])
}

# Entitled, but without an accepted purpose of use: masked, and the reason says how to declare one.
reasons contains {"rule": "masking.purpose_required", "message": msg} if {
	some e in exposed
	role_entitled(e.type)
	not purpose_accepted
	msg := sprintf(
		"%s.%s.%s is PHI (%s): your roles see it unmasked only for a declared purpose of use (%s)%s. Declare one: PostgreSQL options='-c verdict.purpose=treatment' or a leading /* purpose: treatment */, the MCP query tool's purpose argument, or the Snowflake session parameter VERDICT_PURPOSE",
		[e.schema, e.table, e.column, e.type, concat(", ", data.access.purposes), purpose_given],
	)
}

purpose_given := "; none was declared" if {
	purpose == null
} else := sprintf("; \"%s\" is not one of them", [purpose])
