# The shape of the shipped data (policies/classification/data.yaml, policies/access/data.yaml): the only tests
# that read it. Decisions are tested against the pinned test data (helpers_test.rego), so any consistent edit of
# the shipped data passes; these catch edits the policy would misread without a word: a group mapped to a role
# that is not defined, a table key without its schema, a PHI type or a masking method that is not a name.
package verdict.shipped_data_test

test_every_group_maps_to_a_defined_role if {
	bad := {sprintf("%s: %v", [group, role]) | some group, role in data.access.roles_by_group; not data.access.roles[role]}
	print("access/data.yaml roles_by_group names roles that roles does not define:", bad)
	count(bad) == 0
}

test_role_entitlements_are_lists if {
	bad := {name |
		some name, role in data.access.roles
		some key in ["phi_types", "schemas", "snowflake_schemas"]
		not is_array(object.get(role, key, []))
	}
	print("access/data.yaml roles whose phi_types, schemas or snowflake_schemas is not a list:", bad)
	count(bad) == 0
}

# "schema.table" (PostgreSQL) or "DATABASE.SCHEMA.TABLE" (Snowflake), as statements.qualified names tables.
test_classified_tables_are_qualified if {
	bad := {table | some table, _ in data.classification.phi; not count(split(table, ".")) in {2, 3}}
	print("classification/data.yaml phi keys that are not schema.table or DATABASE.SCHEMA.TABLE:", bad)
	count(bad) == 0
}

test_phi_types_are_names if {
	bad := {sprintf("%s.%s", [table, column]) |
		some table, columns in data.classification.phi
		some column, type in columns
		not is_string(type)
	}
	print("classification/data.yaml columns whose PHI type is not a name:", bad)
	count(bad) == 0
}

test_masking_methods_are_names if {
	bad := {type | some type, mask in object.union(data.access.masking, {"default_mask": data.access.default_mask}); not is_string(mask.method)}
	print("access/data.yaml masking entries without a method name:", bad)
	count(bad) == 0
}
