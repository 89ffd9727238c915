package config_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

// Archon's STATE_STORAGE_TYPE=file starts: the memory read model over the
// event stream on disk, kept under FILE_STATE_DIRECTORY unless AWO_DATA_DIR
// says otherwise.
func TestLoad_ArchonFileStorage(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		dataDir string
	}{
		{"file, Archon's default directory", map[string]string{"STATE_STORAGE_TYPE": "file"}, "agent-work-orders-state"},
		{"file with FILE_STATE_DIRECTORY", map[string]string{"STATE_STORAGE_TYPE": "FILE", "FILE_STATE_DIRECTORY": "/var/lib/awo-state"}, "/var/lib/awo-state"},
		{"AWO_DATA_DIR wins", map[string]string{"STATE_STORAGE_TYPE": "file", "FILE_STATE_DIRECTORY": "/var/lib/awo-state", "AWO_DATA_DIR": "/data"}, "/data"},
		{"FILE_STATE_DIRECTORY alone does nothing", map[string]string{"FILE_STATE_DIRECTORY": "/var/lib/awo-state"}, ".data"},
		{"memory keeps .data", map[string]string{"STATE_STORAGE_TYPE": "memory"}, ".data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.StorageType != config.StorageMemory || c.DataDir != tc.dataDir {
				t.Errorf("storage %q, data dir %q; want memory, %q", c.StorageType, c.DataDir, tc.dataDir)
			}
			wantArchon := ""
			if strings.EqualFold(tc.env["STATE_STORAGE_TYPE"], "file") {
				wantArchon = config.StorageFile
			}
			if c.StorageArchon != wantArchon {
				t.Errorf("StorageArchon = %q, want %q", c.StorageArchon, wantArchon)
			}
		})
	}
}

// Archon's Supabase settings without a Postgres connection string stop the
// start saying which string to copy and where to put it, the key unprinted.
func TestLoad_SupabaseWithoutDatabaseURL(t *testing.T) {
	const key = "eyJhbGciOiJIUzI1NiJ9.service-role-secret"
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"Archon's settings", map[string]string{"STATE_STORAGE_TYPE": "supabase", "SUPABASE_URL": "https://abcdefgh.supabase.co", "SUPABASE_SERVICE_KEY": key},
			[]string{"SUPABASE_DB_URL", "Project Settings → Database → Connection string", "Session pooler", "postgresql://postgres.abcdefgh:[YOUR-PASSWORD]@", ":5432/postgres"}},
		{"supabase alone", map[string]string{"STATE_STORAGE_TYPE": "supabase"},
			[]string{"SUPABASE_DB_URL", "Session pooler", "postgres.<project-ref>"}},
		{"postgres with Archon's key", map[string]string{"STATE_STORAGE_TYPE": "postgres", "SUPABASE_SERVICE_KEY": key},
			[]string{"SUPABASE_DB_URL", "Session pooler"}},
		{"a URL that is not Supabase's", map[string]string{"STATE_STORAGE_TYPE": "supabase", "SUPABASE_URL": "http://localhost:54321", "SUPABASE_SERVICE_KEY": key},
			[]string{"postgres.<project-ref>"}},
		{"plain postgres", map[string]string{"STATE_STORAGE_TYPE": "postgres"},
			[]string{"STATE_STORAGE_TYPE=postgres needs DATABASE_URL (or SUPABASE_DB_URL)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(env(tc.env))
			if err == nil {
				t.Fatal("Load accepted a Postgres store without its connection string")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "service-role-secret") {
				t.Errorf("error prints the service key: %v", err)
			}
		})
	}
}

func TestLoad_SupabaseWithDatabaseURL(t *testing.T) {
	const key = "eyJhbGciOiJIUzI1NiJ9.service-role-secret"
	c, err := config.Load(env(map[string]string{
		"STATE_STORAGE_TYPE": "supabase", "SUPABASE_URL": "https://abcdefgh.supabase.co", "SUPABASE_SERVICE_KEY": key,
		"SUPABASE_DB_URL": "postgresql://postgres.abcdefgh:pw-secret@aws-0-eu-central-1.pooler.supabase.com:5432/postgres",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageType != config.StoragePostgres || c.StorageArchon != config.StorageSupabase {
		t.Errorf("storage %q (%q), want postgres (supabase)", c.StorageType, c.StorageArchon)
	}
	if got := c.Redactor().String("key " + key + " password pw-secret"); strings.Contains(got, "secret") {
		t.Errorf("redacted: %q still holds a secret", got)
	}
	var printed strings.Builder
	attrs := c.Attrs()
	for i := 0; i+1 < len(attrs); i += 2 {
		printed.WriteString(attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " ")
	}
	if s := printed.String(); strings.Contains(s, "secret") || !strings.Contains(s, "STATE_STORAGE_TYPE=postgres (supabase)") {
		t.Errorf("start-up line %s: a secret printed, or the storage not shown as postgres (supabase)", s)
	}
}
