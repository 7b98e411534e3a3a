# Replays policy-tests/decisions.yaml under `opa test`. The inputs come from the engine's SQL analysis:
# `npm run policy:check` writes them to .build/fixtures/data.json as data.verdict_fixtures.cases.
package verdict.fixtures_test

import data.verdict

test_decision_fixtures if {
	cases := data.verdict_fixtures.cases
	count(cases) > 0
	failures := [sprintf("%s: got %v", [c.note, d]) |
		some c in cases
		d := verdict.decision with input as c.input
		not matches(d, c.want)
	]
	print("fixture failures:", failures)
	count(failures) == 0
}

matches(d, want) if {
	d.action == want.action
	rules_match(d, want)
	masks_match(d, want)
}

rules_match(_, want) if not want.rules

rules_match(d, want) if {
	{r.rule | some r in d.reasons} == {r | some r in want.rules}
}

masks_match(_, want) if not want.masks

masks_match(d, want) if {
	{sprintf("%s.%s.%s:%s", [m.column.schema, m.column.table, m.column.column, m.method]) | some m in d.masks} == {m | some m in want.masks}
}
