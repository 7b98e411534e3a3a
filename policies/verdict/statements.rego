# Shared views of the policy input: the identity's roles and every statement, nested ones included
# (DO blocks, function bodies, EXPLAIN ANALYZE targets run too, so they are judged too).
package verdict.statements

# The statement itself and every statement nested in it (the analysis flattens nesting).
all contains input.statement

all contains s if some s in input.statement.nested

roles contains role if {
	some group in input.identity.groups
	role := data.access.roles_by_group[group]
}

role_config contains data.access.roles[r] if some r in roles

# Tables every statement touches, read or written.
tables contains {"schema": t.schema, "table": t.table, "access": "read"} if {
	some s in all
	some t in s.reads
}

tables contains {"schema": t.schema, "table": t.table, "access": "write"} if {
	some s in all
	some t in s.writes
}

qualified(t) := concat(".", [t.schema, t.table])
