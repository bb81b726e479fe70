// Package configs is the mcp.yaml language: the types a configuration file
// decodes into, [Load] (the one user of koanf), validation that reports every
// problem with its field path, and secret resolution.
//
// It stands first in the life of a server: the CLI calls [Load], which reads
// the file strictly, applies API2MCP_* environment overrides to non-secret
// settings, resolves ${VAR} and ${file:/path} references in the upstreams
// section and the front door's credentials (auth.api_keys[].key,
// auth.oauth.introspection.client_secret), checks the auth section with
// package authn, and compiles every tool with package mapping. A [Config] that loads
// is ready to serve: package proxy builds the running server from it.
package configs
