package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxNameLen is the longest tool name clients accept.
const maxNameLen = 64

// sanitize maps s to [A-Za-z0-9_-]: other characters become _, runs of _
// collapse, and _ is trimmed at both ends.
func sanitize(s string) string {
	var b strings.Builder
	lastUnderscore := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok || r == '_' {
			if !lastUnderscore && b.Len() > 0 {
				b.WriteByte('_')
			}
			lastUnderscore = true
			continue
		}
		b.WriteRune(r)
		lastUnderscore = false
	}
	return strings.TrimRight(b.String(), "_")
}

// shortHash is a short, stable digest of an operation's method and path.
func shortHash(method, path string) string {
	sum := sha256.Sum256([]byte(method + " " + path))
	return hex.EncodeToString(sum[:])[:6]
}

// toolName derives a name from the operationId or, without one, from the
// method and path; a name longer than 64 characters is cut and given the
// hash of its operation, so that two long names do not become one.
func toolName(operationID, method, path string) string {
	name := sanitize(operationID)
	if name == "" {
		name = sanitize(strings.ToLower(method) + "_" + strings.NewReplacer("{", "", "}", "").Replace(path))
	}
	if name == "" {
		name = strings.ToLower(method)
	}
	return limitName(name, method, path)
}

func limitName(name, method, path string) string {
	if len(name) <= maxNameLen {
		return name
	}
	return strings.TrimRight(name[:maxNameLen-7], "_") + "_" + shortHash(method, path)
}

// withHash gives a colliding name its operation's hash, within 64 characters.
func withHash(name, method, path string) string {
	h := "_" + shortHash(method, path)
	if len(name)+len(h) > maxNameLen {
		name = strings.TrimRight(name[:maxNameLen-len(h)], "_")
	}
	return name + h
}

// argName sanitises a parameter or property name into an argument name
// (^[a-zA-Z0-9_.-]{1,64}$).
func argName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	// A leading dot would read as RFC 6570's label operator in a path
	// placeholder.
	out := strings.Trim(strings.TrimLeft(b.String(), "."), "_")
	if out == "" {
		out = "arg"
	}
	if len(out) > maxNameLen {
		out = out[:maxNameLen]
	}
	return out
}
