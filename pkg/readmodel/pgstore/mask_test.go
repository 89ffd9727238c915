package pgstore

import (
	"strings"
	"testing"
)

func TestMaskURL_HidesPasswords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://awo:s3cret@db:5432/awo", "postgres://awo:xxxxx@db:5432/awo"},
		{"postgresql://awo@db/awo?password=s3cret&sslmode=require", "postgresql://awo@db/awo?password=xxxxx&sslmode=require"},
		{"postgres://awo:s3cret@[::1/awo", "postgres://awo:xxxxx@[::1/awo"},
		{"host=db user=awo password=s3cret dbname=awo", "host=db user=awo password=xxxxx dbname=awo"},
		{"host=db password='s3 cret' dbname=awo", "host=db password=xxxxx dbname=awo"},
		{"postgres://db/awo", "postgres://db/awo"},
	}
	for _, tc := range tests {
		got := maskURL(tc.in)
		if got != tc.want || strings.Contains(got, "s3") {
			t.Errorf("maskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
