package config

// Checkpoints: how much of a sandbox a checkpoint may hold.

// DefaultCheckpointMaxBytes is AWO_CHECKPOINT_MAX_BYTES' default (100 MiB).
// Keep it equal to the executor's sandbox.DefaultCheckpointMaxBytes.
const DefaultCheckpointMaxBytes = 100 << 20

// checkpointVariables cap the untracked output a checkpoint keeps: more
// than that is an installed node_modules or a build, not the agent's work,
// and would make a bundle of hundreds of megabytes in JetStream.
var checkpointVariables = []variable{
	{names: []string{"AWO_CHECKPOINT_MAX_BYTES"},
		load: func(p *parser, n []string, c *Config) {
			c.CheckpointMaxBytes = p.size(n[0], DefaultCheckpointMaxBytes)
		},
		show: func(c *Config) any {
			if c.CheckpointMaxBytes == 0 {
				return "none"
			}
			return FormatSize(c.CheckpointMaxBytes)
		}},
}
