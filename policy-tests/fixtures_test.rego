# Replays policy-tests/decisions.yaml under `opa test`, against the pinned test data (policy-tests/testdata/) in
# place of the shipped data. The inputs come from the engine's SQL analysis: `npm run policy:check` writes them to
# .build/fixtures/data.json as data.verdict_fixtures.cases. A failing case prints its note, its SQL and what
# differs: the action, reason rules and masks missing or extra, and the reasons the policy gave. Per-column masks
# (want.columns) are the gateway's mapping of the decision (engine/masking/plan.ts): the WASM replay
# (fixtures.test.ts) checks them.
package verdict.fixtures_test

import data.verdict
import data.verdict.test_helpers as h

test_decision_fixtures if {
	cases := data.verdict_fixtures.cases
	count(cases) > 0
	failures := [report(c, problems) |
		some c in cases
		d := verdict.decision with input as c.input with data.classification as h.classification with data.access as h.access
		problems := differences(d, c.want)
		count(problems) > 0
	]
	print(summary(failures, cases))
	count(failures) == 0
}

summary(failures, cases) := sprintf("%d of %d decision fixtures (policy-tests/decisions.yaml) differ:\n\n%s", [count(failures), count(cases), concat("\n\n", failures)]) if {
	count(failures) > 0
} else := sprintf("all %d decision fixtures match", [count(cases)])

report(c, problems) := sprintf("fixture %q\n  sql: %s\n  %s", [c.note, c.input.statement.text, concat("\n  ", problems)])

# What differs between a decision and a fixture's want, one line each; empty when they match.
differences(d, want) := array.concat(
	array.concat(action_differences(d, want), set_differences("rules", {r.rule | some r in d.reasons}, want)),
	array.concat(set_differences("masks", mask_keys(d), want), reasons_given(d, want)),
)

action_differences(d, want) := [sprintf("action: want %s, got %s", [want.action, d.action]) | d.action != want.action]

# Only what the fixture names is compared: a want without `rules` (or `masks`) accepts any.
set_differences(key, got, want) := [line |
	listed := want[key]
	wanted := {x | some x in listed}
	some [kind, xs] in [["missing", wanted - got], ["extra", got - wanted]]
	count(xs) > 0
	line := sprintf("%s %s: %s", [key, kind, concat(", ", sort(xs))])
]

mask_keys(d) := {sprintf("%s.%s.%s:%s", [m.column.schema, m.column.table, m.column.column, m.method]) | some m in d.masks}

# The policy's own words, when the action or the rules differ.
reasons_given(d, want) := [sprintf("reason given: %s: %s", [r.rule, r.message]) |
	count(array.concat(action_differences(d, want), set_differences("rules", {x.rule | some x in d.reasons}, want))) > 0
	some r in d.reasons
]

# The report of a failing fixture names it and says what differs (the comparison can fail).
test_failing_fixture_report if {
	d := {
		"action": "deny",
		"reasons": [{"rule": "guards.schema", "message": "no role of yours may read tables in schema billing (billing.invoices)"}],
		"masks": [{"column": {"schema": "billing", "table": "invoices", "column": "payer"}, "method": "redact"}],
	}
	want := {"action": "mask", "rules": ["masking.phi"], "masks": ["public.patients.ssn:partial"]}
	problems := differences(d, want)
	problems == [
		"action: want mask, got deny",
		"rules missing: masking.phi",
		"rules extra: guards.schema",
		"masks missing: public.patients.ssn:partial",
		"masks extra: billing.invoices.payer:redact",
		"reason given: guards.schema: no role of yours may read tables in schema billing (billing.invoices)",
	]
	c := {"note": "billing sees invoices", "input": {"statement": {"text": "SELECT payer FROM billing.invoices"}}}
	summary([report(c, problems)], [c, c]) == concat("\n", [
		"1 of 2 decision fixtures (policy-tests/decisions.yaml) differ:",
		"",
		"fixture \"billing sees invoices\"",
		"  sql: SELECT payer FROM billing.invoices",
		"  action: want mask, got deny",
		"  rules missing: masking.phi",
		"  rules extra: guards.schema",
		"  masks missing: public.patients.ssn:partial",
		"  masks extra: billing.invoices.payer:redact",
		"  reason given: guards.schema: no role of yours may read tables in schema billing (billing.invoices)",
	])

	# A want without rules or masks accepts any; matching sets give no line.
	differences(d, {"action": "deny"}) == []
	differences(d, {"action": "deny", "rules": ["guards.schema"], "masks": ["billing.invoices.payer:redact"]}) == []
}
