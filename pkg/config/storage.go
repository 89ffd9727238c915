package config

import (
	"errors"
	"net/url"
	"strings"
)

// Archon's storage values, which awo maps onto its own stores.
const (
	// StorageFile is Archon's JSON-file store. awo's event stream already
	// persists every work order on disk, so it means the memory read model
	// over the JetStream file store (under FILE_STATE_DIRECTORY when
	// AWO_DATA_DIR is unset).
	StorageFile = "file"
	// StorageSupabase is Archon's Supabase store: the same tables, which
	// awo reaches over Postgres.
	StorageSupabase = "supabase"
)

// archonStateDir is FILE_STATE_DIRECTORY's default in Archon's service.
const archonStateDir = "agent-work-orders-state"

// storageVariables are Archon's names around its file and Supabase stores.
// They load late: they depend on STATE_STORAGE_TYPE, DATABASE_URL and
// AWO_DATA_DIR.
var storageVariables = []variable{
	{names: []string{"FILE_STATE_DIRECTORY"}, late: true,
		load: func(p *parser, n []string, c *Config) { p.fileStateDir(n[0], c) }},
	{names: []string{"SUPABASE_URL"},
		load: func(p *parser, n []string, c *Config) { c.SupabaseURL = p.str(n[0], "") },
		show: func(c *Config) any { return c.SupabaseURL }},
	// The service key is not used (awo reads the tables over Postgres),
	// only redacted and asked about: its presence says an Archon
	// configuration was carried over.
	{names: []string{"SUPABASE_SERVICE_KEY"}, secret: wholeSecret, late: true,
		load: func(p *parser, n []string, c *Config) {
			_, key := p.get(n[0])
			p.needDatabaseURL(c, key)
		}},
}

// storage reads STATE_STORAGE_TYPE: the store it selects and, for one of
// Archon's values, that value.
func (p *parser) storage(name string) (storageType, archonValue string) {
	v := p.oneOf(name, StorageMemory, StorageMemory, StoragePostgres, StorageSupabase, StorageFile)
	switch v {
	case StorageSupabase:
		return StoragePostgres, v
	case StorageFile:
		return StorageMemory, v
	}
	return v, ""
}

// fileStateDir puts the embedded JetStream's files under
// FILE_STATE_DIRECTORY for STATE_STORAGE_TYPE=file, unless AWO_DATA_DIR
// says where they go.
func (p *parser) fileStateDir(name string, c *Config) {
	dir := p.str(name, archonStateDir)
	if _, set := p.get("AWO_DATA_DIR"); !set && c.StorageArchon == StorageFile {
		c.DataDir = dir
	}
}

// needDatabaseURL refuses a Postgres store without its connection string,
// and for a carried-over Supabase configuration says which one to copy.
func (p *parser) needDatabaseURL(c *Config, supabaseKey bool) {
	if c.StorageType != StoragePostgres || c.DatabaseURL != "" {
		return
	}
	if c.StorageArchon != StorageSupabase && c.SupabaseURL == "" && !supabaseKey {
		p.errs = append(p.errs, errors.New("STATE_STORAGE_TYPE=postgres needs DATABASE_URL (or SUPABASE_DB_URL)"))
		return
	}
	p.errs = append(p.errs, errors.New(supabaseHelp(c.SupabaseURL)))
}

// supabaseHelp tells an Archon user which connection string to copy. The
// session pooler, not the direct connection (IPv6 only on most projects)
// nor the transaction pooler (no prepared statements).
func supabaseHelp(supabaseURL string) string {
	user := "postgres.<project-ref>"
	if u, err := url.Parse(supabaseURL); err == nil {
		if ref, ok := strings.CutSuffix(u.Hostname(), ".supabase.co"); ok && ref != "" && !strings.Contains(ref, ".") {
			user = "postgres." + ref
		}
	}
	return "STATE_STORAGE_TYPE=supabase needs the database's Postgres connection string in SUPABASE_DB_URL (or DATABASE_URL): " +
		"SUPABASE_URL and SUPABASE_SERVICE_KEY are the REST credentials Archon's service used, and awo reads and writes the same tables over Postgres. " +
		"In the Supabase dashboard open Project Settings → Database → Connection string (or Connect at the top of the project page), " +
		"choose the Session pooler URI, postgresql://" + user + ":[YOUR-PASSWORD]@aws-0-<region>.pooler.supabase.com:5432/postgres, " +
		"put the database password in place of [YOUR-PASSWORD] and set SUPABASE_DB_URL to it"
}
