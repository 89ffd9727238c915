package config

import (
	"math"
	"strconv"
	"strings"
)

// Budgets: what a work order's agent runs may cost.

// budgetVariables are the cost caps.
var budgetVariables = []variable{
	{names: []string{"AWO_MAX_COST_USD"},
		load: func(p *parser, n []string, c *Config) { c.MaxCostUSD = p.dollars(n[0]) },
		show: func(c *Config) any { return costString(c.MaxCostUSD) }},
}

// dollars parses an optional amount of US dollars: unset is 0 (no cap),
// set must be a positive number.
func (p *parser) dollars(name string) float64 {
	v, ok := p.get(name)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		p.fail(name, v, "must be an amount of US dollars greater than 0, such as 5 or 0.50 (leave it unset for no cap)")
		return 0
	}
	return f
}

func costString(usd float64) string {
	if usd == 0 {
		return "none"
	}
	return "$" + strconv.FormatFloat(usd, 'f', -1, 64)
}
