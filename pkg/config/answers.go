package config

// answersVariables are the github service's answers on GitHub (issue 15):
// where the comments it leaves on an issue or pull request link to.
var answersVariables = []variable{
	{names: []string{"AWO_PUBLIC_URL"},
		load: func(p *parser, n []string, c *Config) { c.PublicURL = p.httpURL(n[0]) },
		show: func(c *Config) any {
			return orDefault(c.PublicURL, "(none: answers name the work order without a link)")
		}},
}
