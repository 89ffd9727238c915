package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

const (
	tokenA = "tok-aaaaaaaaaaaaaaaaaaaa"
	tokenB = "tok-bbbbbbbbbbbbbbbbbbbb"
	tokenC = "tok-cccccccccccccccccccc"
)

// Without tokens the gateway stays on loopback; with them it listens on
// every interface as before; a non-loopback address without tokens is
// refused naming both variables unless AWO_AUTH=none.
func TestLoad_BindHost(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantHost string
		wantErr  []string
	}{
		{"DefaultIsLoopback", nil, "127.0.0.1", nil},
		{"TokensDefaultToAllInterfaces", map[string]string{"AWO_API_TOKENS": tokenA}, "", nil},
		{"ExplicitLoopback", map[string]string{"AGENT_WORK_ORDERS_HOST": "::1"}, "::1", nil},
		{"Localhost", map[string]string{"AGENT_WORK_ORDERS_HOST": "localhost"}, "localhost", nil},
		{"Loopback127x", map[string]string{"AGENT_WORK_ORDERS_HOST": "127.0.0.2"}, "127.0.0.2", nil},
		{"AllInterfacesWithoutTokens", map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0"}, "",
			[]string{"AGENT_WORK_ORDERS_HOST", "AWO_API_TOKENS", "AWO_AUTH=none"}},
		{"LANAddressWithoutTokens", map[string]string{"AGENT_WORK_ORDERS_HOST": "192.168.1.5"}, "",
			[]string{"AGENT_WORK_ORDERS_HOST", "AWO_API_TOKENS"}},
		{"IPv6AnyWithoutTokens", map[string]string{"AGENT_WORK_ORDERS_HOST": "[::]"}, "",
			[]string{"AGENT_WORK_ORDERS_HOST", "AWO_API_TOKENS"}},
		{"HostNameWithoutTokens", map[string]string{"AGENT_WORK_ORDERS_HOST": "build-box.internal"}, "",
			[]string{"AGENT_WORK_ORDERS_HOST", "AWO_API_TOKENS"}},
		{"AllInterfacesWithTokens", map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0", "AWO_API_TOKENS": tokenA}, "0.0.0.0", nil},
		{"AllInterfacesOnPurpose", map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0", "AWO_AUTH": "none"}, "0.0.0.0", nil},
		{"NoneContradictsTokens", map[string]string{"AWO_AUTH": "none", "AWO_API_TOKENS": tokenA}, "", []string{"AWO_AUTH", "AWO_API_TOKENS"}},
		{"HostWithPort", map[string]string{"AGENT_WORK_ORDERS_HOST": "127.0.0.1:8053"}, "", []string{"AGENT_WORK_ORDERS_HOST", "without a port"}},
		{"UnknownAuth", map[string]string{"AWO_AUTH": "basic"}, "", []string{"AWO_AUTH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.env))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("loaded %q, want an error", c.Host)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %s", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != tc.wantHost {
				t.Fatalf("Host = %q, want %q", c.Host, tc.wantHost)
			}
		})
	}
}

// The list and the file are joined; the file skips blanks and comments;
// a bad token is refused without being quoted.
func TestLoad_APITokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# rotated 2026-12\n\n  "+tokenB+"  \n"+tokenA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(env(map[string]string{"AWO_API_TOKENS": " " + tokenA + ", ," + tokenC, "AWO_API_TOKENS_FILE": file}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{tokenA, tokenC, tokenB}; !slices.Equal(c.APITokens, want) {
		t.Fatalf("APITokens = %v, want %v", c.APITokens, want)
	}

	for name, bad := range map[string]string{"Short": "short-secret", "Space": "secret with spaces inside", "Quote": `secret"quoted"aaaaaaaaaa`} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"AWO_API_TOKENS": tokenA + "," + bad}))
			if err == nil || !strings.Contains(err.Error(), "AWO_API_TOKENS: token 2") {
				t.Fatalf("err = %v, want one naming token 2 of AWO_API_TOKENS", err)
			}
			if strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), tokenA) {
				t.Fatalf("the error quotes a token: %v", err)
			}
			_, err = config.Load(env(map[string]string{"AWO_METRICS_TOKEN": bad}))
			if err == nil || !strings.Contains(err.Error(), "AWO_METRICS_TOKEN") || strings.Contains(err.Error(), bad) {
				t.Fatalf("metrics token: err = %v", err)
			}
		})
	}
	_, err = config.Load(env(map[string]string{"AWO_API_TOKENS_FILE": filepath.Join(t.TempDir(), "missing")}))
	if err == nil || !strings.Contains(err.Error(), "AWO_API_TOKENS_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// The start-up line shows how many tokens there are, never one.
func TestAttrs_MaskTokens(t *testing.T) {
	c, err := config.Load(env(map[string]string{"AWO_API_TOKENS": tokenA + "," + tokenB, "AWO_METRICS_TOKEN": tokenC}))
	if err != nil {
		t.Fatal(err)
	}
	printed := ""
	attrs := c.Attrs()
	for i := 0; i < len(attrs); i += 2 {
		printed += attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " "
	}
	for _, tok := range []string{tokenA, tokenB, tokenC} {
		if strings.Contains(printed, tok) {
			t.Fatalf("token printed: %s", printed)
		}
	}
	if !strings.Contains(printed, "AWO_API_TOKENS=2 tokens") {
		t.Errorf("token count missing: %s", printed)
	}
}

func TestLoad_CORSOrigins(t *testing.T) {
	tests := []struct {
		value string
		want  []string
		err   bool
	}{
		{"", nil, false},
		{"https://App.Example.com/, http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}, false},
		{"https://a.example:443,http://b.example:80", []string{"https://a.example", "http://b.example"}, false},
		{"*", []string{"*"}, false},
		{"*,https://a.example", nil, true},
		{"a.example", nil, true},
		{"https://a.example/path", nil, true},
		{"ftp://a.example", nil, true},
	}
	for _, tc := range tests {
		c, err := config.Load(env(map[string]string{"AWO_CORS_ORIGINS": tc.value}))
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "AWO_CORS_ORIGINS") {
				t.Errorf("%q: err = %v, want one naming AWO_CORS_ORIGINS", tc.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.value, err)
			continue
		}
		if !slices.Equal(c.CORSOrigins, tc.want) {
			t.Errorf("%q: %v, want %v", tc.value, c.CORSOrigins, tc.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want config.Rate
		err  bool
	}{
		{"10/s", config.Rate{Events: 10, Per: time.Second, Burst: 10}, false},
		{"10/s,burst=20", config.Rate{Events: 10, Per: time.Second, Burst: 20}, false},
		{"100/m", config.Rate{Events: 100, Per: time.Minute, Burst: 100}, false},
		{"5/hour, burst=1", config.Rate{Events: 5, Per: time.Hour, Burst: 1}, false},
		{"off", config.Rate{}, false},
		{"10", config.Rate{}, true},
		{"10/d", config.Rate{}, true},
		{"0/s", config.Rate{}, true},
		{"10/s,burst=0", config.Rate{}, true},
		{"10/s,20", config.Rate{}, true},
	}
	for _, tc := range tests {
		got, err := config.ParseRate(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CreateRate != config.DefaultCreateRate || c.CreateRate.String() != "10/s,burst=20" || c.SSEMaxPerClient != 16 || c.SSEMax != 256 {
		t.Fatalf("defaults: rate %s, SSE %d/%d", c.CreateRate, c.SSEMaxPerClient, c.SSEMax)
	}
	if _, err := config.Load(env(map[string]string{"AWO_CREATE_RATE": "fast"})); err == nil || !strings.Contains(err.Error(), "AWO_CREATE_RATE") {
		t.Fatalf("bad rate: %v", err)
	}
}
