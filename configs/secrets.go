package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// minSecretLen is the shortest resolved value treated as a secret to redact
// from output; shorter values would match ordinary text.
const minSecretLen = 4

// secretFields are the fields outside upstreams where ${…} is resolved:
// front-door credentials (see also apiKeyFieldRE).
var secretFields = map[string]bool{"auth.oauth.introspection.client_secret": true, "redis.url": true,
	"auth.authorization_server.login.client_id": true, "auth.authorization_server.login.client_secret": true,
	"auth.authorization_server.encryption_key": true, "auth.authorization_server.state.redis.url": true}

var apiKeyFieldRE = regexp.MustCompile(`^auth\.api_keys\[\d+\]\.key$`)

var placeholderRE = regexp.MustCompile(`\$\$|\$\{([^}]*)\}`)

// checkPlaceholders reports ${…} anywhere outside the upstreams section and
// the front door's credential fields and redis.url: secrets are resolved
// there only, so that they cannot reach expressions, descriptions or
// anything else an agent sees.
func checkPlaceholders(raw map[string]any) []error {
	var errs []error
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if path == "" && k == "upstreams" || path == "redis" && k == "url" {
					continue
				}
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, v[k])
			}
		case []any:
			for i, e := range v {
				p := fmt.Sprintf("%s[%d]", path, i)
				// Tool paths read as in every other tool error:
				// tools[0] "name": query.q
				if m, ok := e.(map[string]any); ok && path == "tools" {
					if name, ok := m["name"].(string); ok && name != "" {
						for _, k := range slices.Sorted(maps.Keys(m)) {
							walk(fmt.Sprintf("%s %q: %s", p, name, k), m[k])
						}
						continue
					}
				}
				walk(p, e)
			}
		case string:
			if strings.Contains(v, "${") && !secretFields[path] && !apiKeyFieldRE.MatchString(path) {
				errs = append(errs, fmt.Errorf("%s: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)", path))
			}
		}
	}
	walk("", raw)
	return errs
}

// resolveSecrets expands ${VAR} and ${file:/path} in the upstreams section
// and returns the values it produced, which are secrets. $$ is a literal $.
// unresolved holds the paths of the fields it could not resolve, which
// validation skips rather than report a consequence of the same mistake.
func resolveSecrets(f *File, o *Options) (secrets []string, unresolved map[string]bool, errs []error) {
	unresolved = map[string]bool{}
	expand := func(field, s string) string {
		return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
			if m == "$$" {
				return "$"
			}
			ref := m[2 : len(m)-1]
			val, err := lookupSecret(ref, o)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", field, err))
				unresolved[field] = true
				return ""
			}
			if len(val) >= minSecretLen {
				secrets = append(secrets, val)
			}
			return val
		})
	}
	for _, name := range slices.Sorted(maps.Keys(f.Upstreams)) {
		u := f.Upstreams[name]
		base := fmt.Sprintf("upstreams.%s", name)
		u.URL = expand(base+".url", u.URL)
		if len(u.Headers) > 0 {
			h := make(map[string]string, len(u.Headers))
			for _, k := range slices.Sorted(maps.Keys(u.Headers)) {
				h[k] = expand(base+".headers."+k, u.Headers[k])
			}
			u.Headers = h
		}
		if len(u.Credentials) > 0 {
			c := make(map[string]string, len(u.Credentials))
			for _, k := range slices.Sorted(maps.Keys(u.Credentials)) {
				c[k] = expand(base+".credentials."+k, u.Credentials[k])
				if v := c[k]; strings.Contains(v, ":") && len(v) >= minSecretLen {
					// A basic credential travels base64-encoded.
					secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(v)))
				}
			}
			u.Credentials = c
		}
		f.Upstreams[name] = u
	}
	for i := range f.Auth.APIKeys {
		f.Auth.APIKeys[i].Key = expand(fmt.Sprintf("auth.api_keys[%d].key", i), f.Auth.APIKeys[i].Key)
	}
	is := &f.Auth.OAuth.Introspection
	is.ClientSecret = expand("auth.oauth.introspection.client_secret", is.ClientSecret)
	as := &f.Auth.AuthorizationServer
	// The client id is public, but deployments keep it beside the secret
	// (GITHUB_CLIENT_ID next to GITHUB_CLIENT_SECRET).
	as.Login.ClientID = expand("auth.authorization_server.login.client_id", as.Login.ClientID)
	as.Login.ClientSecret = expand("auth.authorization_server.login.client_secret", as.Login.ClientSecret)
	as.EncryptionKey = expand("auth.authorization_server.encryption_key", as.EncryptionKey)
	as.State.Redis.URL = expand("auth.authorization_server.state.redis.url", as.State.Redis.URL)
	f.Redis.URL = expand("redis.url", f.Redis.URL)
	return secrets, unresolved, errs
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func lookupSecret(ref string, o *Options) (string, error) {
	if p, ok := strings.CutPrefix(ref, "file:"); ok {
		if p == "" {
			return "", errors.New("${file:} needs a path")
		}
		b, err := o.ReadFile(p)
		if err != nil {
			// The *fs.PathError would repeat the path; keep only its cause.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("reading secret file %s: %w", p, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if !envNameRE.MatchString(ref) {
		return "", fmt.Errorf("${%s} is not a valid reference (want ${NAME} or ${file:/path})", ref)
	}
	v, ok := o.LookupEnv(ref)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set", ref)
	}
	return v, nil
}

// Redact replaces every secret value in s with "[redacted]". Upstreams can
// echo credentials in error bodies; nothing resolved from ${…} may reach an
// agent or a log.
func (c *Config) Redact(s string) string {
	for _, sec := range c.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// Secrets returns the resolved secret values, for callers that must scan
// bytes rather than strings.
func (c *Config) Secrets() []string { return c.secrets }
