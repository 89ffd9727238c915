package config

import "strings"

// Stream replication: how many copies of each stream, key-value bucket and
// object store JetStream keeps, and on which servers.

// MaxStreamReplicas is JetStream's own limit on a stream's replicas.
const MaxStreamReplicas = 5

// placementTags reads a comma-separated list of JetStream placement tags;
// empty entries are dropped, so a trailing comma is harmless.
func (p *parser) placementTags(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var tags []string
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if strings.ContainsAny(t, " \t\"'") {
			p.fail(name, v, "must be comma-separated placement tags without spaces or quotes, e.g. az:eu-1a,ssd")
			return nil
		}
		tags = append(tags, t)
	}
	return tags
}

// streamVariables are the replication settings of every stream awo
// creates.
var streamVariables = []variable{
	{names: []string{"AWO_STREAM_REPLICAS"},
		load: func(p *parser, n []string, c *Config) {
			c.StreamReplicas = p.intRange(n[0], 1, 1, MaxStreamReplicas)
		},
		show: func(c *Config) any { return c.StreamReplicas }},
	{names: []string{"AWO_STREAM_PLACEMENT_TAGS"},
		load: func(p *parser, n []string, c *Config) { c.StreamPlacementTags = p.placementTags(n[0]) },
		show: func(c *Config) any { return orDefault(strings.Join(c.StreamPlacementTags, ","), "(none)") }},
}
