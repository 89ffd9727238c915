package natsembed_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/natsembed"
)

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStart_RefusesAnUnauthenticatedNetworkListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: listen})
		if err == nil {
			srv.Shutdown()
			t.Fatalf("%s without authentication: started", listen)
		}
		if !strings.Contains(err.Error(), "AWO_NATS_LISTEN") || !strings.Contains(err.Error(), "AWO_NATS_CONFIG") {
			t.Errorf("%s: %v does not name AWO_NATS_LISTEN and AWO_NATS_CONFIG", listen, err)
		}
	}
	// A configuration file whose own listen address is open, without
	// users, is refused too; so is one whose no_auth_user lets anybody in.
	open := writeConf(t, "listen: 0.0.0.0:-1\n")
	if _, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: open}); err == nil ||
		!strings.Contains(err.Error(), "AWO_NATS_CONFIG="+open) {
		t.Errorf("open listen in the file: %v", err)
	}
	noAuthUser := writeConf(t, "authorization { users: [{user: a, password: b}] }\nno_auth_user: a\n")
	if _, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: noAuthUser, Listen: "0.0.0.0:0"}); err == nil {
		t.Error("no_auth_user counted as authentication")
	}
}

func TestStart_LoopbackWithoutAuthenticationIsAllowed(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "localhost:0"} {
		srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: listen})
		if err != nil {
			t.Fatalf("%s: %v", listen, err)
		}
		srv.Shutdown()
	}
}

// Users inside accounts, nkeys and a token count as authentication.
func TestStart_AuthenticationInAnyFormAllowsANetworkListen(t *testing.T) {
	for name, conf := range map[string]string{
		"accounts": "accounts { AWO: { jetstream: enabled, users: [{user: a, password: b}] } }\n",
		"nkeys":    "authorization { users: [{nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}] }\n",
		"token":    "authorization { token: s3cret }\n",
	} {
		srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: writeConf(t, conf), Listen: "0.0.0.0:0"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !srv.RequiresAuthentication() {
			t.Errorf("%s: RequiresAuthentication is false", name)
		}
		srv.Shutdown()
	}
}

func TestStart_ConfigFileWithUsers(t *testing.T) {
	t.Setenv("TEST_AWO_PW", "pw-of-alice")
	store := filepath.Join(t.TempDir(), "js")
	conf := writeConf(t, `
store_dir: "`+store+`"
max_payload: 1024
authorization {
  users: [
    {user: alice, password: $TEST_AWO_PW}
  ]
}
`)
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: conf, Listen: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if !srv.RequiresAuthentication() {
		t.Error("RequiresAuthentication is false")
	}
	if _, err := srv.Connect("anonymous"); err == nil {
		t.Error("an in-process connection without credentials was let in")
	}
	nc, err := srv.Connect("alice", nats.UserInfo("alice", "pw-of-alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got < 8<<20 {
		t.Errorf("max payload %d, want at least 8 MiB whatever the file says", got)
	}
	if _, err := nats.Connect(srv.ClientURL(), nats.UserInfo("alice", "wrong")); err == nil {
		t.Error("a network client with a wrong password was let in")
	}
	js, _ := nc.JetStream()
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream is not on: %v", err)
	}
	if _, err := os.Stat(store); err != nil {
		t.Errorf("the file's store_dir was not used: %v", err)
	}
}

func TestStart_BadConfigFileNamesTheVariableAndTheFile(t *testing.T) {
	bad := writeConf(t, "authorization { users: [ {user: \n")
	_, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: bad})
	if err == nil || !strings.Contains(err.Error(), "AWO_NATS_CONFIG="+bad) {
		t.Fatalf("err = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.conf")
	_, err = natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: missing})
	if err == nil || !strings.Contains(err.Error(), "AWO_NATS_CONFIG="+missing) {
		t.Fatalf("err = %v", err)
	}
}
