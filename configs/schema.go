package configs

import _ "embed"

// JSONSchema is the JSON Schema of mcp.yaml, for editors (a
// yaml-language-server comment in a config points at it) and for
// `api2mcp schema`. It is generated from the Go types and their doc comments
// by TestSchemaIsGenerated (go test ./configs -run Schema -update), which
// fails when the committed file drifts from the types.
//
//go:embed mcp.schema.json
var JSONSchema []byte
