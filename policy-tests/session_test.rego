# The session data is policy too: its startup parameter list names settings the gateway can pass safely.
package verdict.session_test

# Settings that change how statements are read or whose rights apply; the gateway refuses them at startup
# whatever the list says, so listing one is a mistake to catch here.
never_at_startup := {"search_path", "standard_conforming_strings", "client_encoding", "role", "session_authorization", "backslash_quote"}

test_startup_parameters_are_lower_case if {
	every p in data.session.startup_parameters {
		p == lower(p)
	}
}

test_startup_parameters_change_neither_reading_nor_rights if {
	count({p | some p in data.session.startup_parameters} & never_at_startup) == 0
}

test_startup_parameters_let_drivers_keep_their_defaults if {
	# node-postgres, libpq and JDBC send these at startup.
	every p in ["application_name", "statement_timeout", "idle_in_transaction_session_timeout", "datestyle", "timezone", "extra_float_digits"] {
		p in data.session.startup_parameters
	}
}
