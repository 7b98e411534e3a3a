# The session data is policy too: its startup parameter list names settings the gateway can pass safely.
# These are checks of the shipped data (like shipped_data_test.rego): with no session data at all the
# gateway refuses every startup setting, which these tests do not forbid.
package verdict.session_test

# Settings that change how statements are read or whose rights apply; the gateway refuses them at startup
# whatever the list says, so listing one is a mistake to catch here.
never_at_startup := {"search_path", "standard_conforming_strings", "client_encoding", "role", "session_authorization", "backslash_quote"}

default listed := []

listed := data.session.startup_parameters

test_startup_parameters_are_lower_case if {
	every p in listed {
		p == lower(p)
	}
}

test_startup_parameters_change_neither_reading_nor_rights if {
	count({p | some p in listed} & never_at_startup) == 0
}

drivers := ["application_name", "statement_timeout", "idle_in_transaction_session_timeout", "datestyle", "timezone", "extra_float_digits"]

# node-postgres, libpq and JDBC send these at startup; a list that names any setting must name these.
test_startup_parameters_let_drivers_keep_their_defaults if {
	missing := {p | some p in drivers; not p in listed}
	count(missing) * count(listed) == 0 # none missing, or no list at all
}
