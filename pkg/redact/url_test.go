package redact_test

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"postgres://awo:s3cret@db:5432/awo", "postgres://awo:xxxxx@db:5432/awo"},
		{"postgres://awo@db:5432/awo", "postgres://awo@db:5432/awo"},
		{"postgresql://awo@db/awo?password=s3cret&sslmode=require", "postgresql://awo@db/awo?password=xxxxx&sslmode=require"},
		{"postgres://db/awo?sslmode=verify-full&sslpassword=keypw&user=awo", "postgres://db/awo?sslmode=verify-full&sslpassword=xxxxx&user=awo"},
		{"postgres://awo:s3cret@[::1/awo", "postgres://awo:xxxxx@[::1/awo"},
		{"host=db user=awo password=s3cret dbname=awo", "host=db user=awo password=xxxxx dbname=awo"},
		{"host=db password='s3 cret' dbname=awo", "host=db password=xxxxx dbname=awo"},
		{"host=db sslpassword=k3y password = pw2", "host=db sslpassword=xxxxx password = xxxxx"},
		{"nats://s3cr3t-token@nats:4222", "nats://xxxxx@nats:4222"},
		{"nats://user:pw@nats:4222", "nats://user:xxxxx@nats:4222"},
		{"tls://tok@a:4222,nats://u:p@b:4222,nats://c:4222", "tls://xxxxx@a:4222,nats://u:xxxxx@b:4222,nats://c:4222"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"http://user:pw@otel:4318/v1/traces", "http://user:xxxxx@otel:4318/v1/traces"},
		{"https://collector.example.com:4318?token=abc&x=1", "https://collector.example.com:4318?token=xxxxx&x=1"},
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318"},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
