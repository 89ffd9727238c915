package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
)

// specSource is the OpenAPI description of every route. Tests check it
// against the router and the Go types, so it cannot drift silently.
//
//go:embed openapi.json
var specSource []byte

// versionPlaceholder is info.version in the embedded spec.
var versionPlaceholder = []byte(`"version": "VERSION"`)

// renderSpec stamps the running version into the spec.
func renderSpec(version string) []byte {
	quoted, _ := json.Marshal(version) // a string always encodes
	return bytes.Replace(specSource, versionPlaceholder, append([]byte(`"version": `), quoted...), 1)
}
