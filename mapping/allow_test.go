package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestAllow(t *testing.T) {
	tool, err := Compile(Spec{
		Name:     "t",
		Upstream: "api",
		Scopes:   []string{"pets:read"},
		Allow:    `args.id < 100 || "admins" in claims.groups`,
		Input:    map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "integer"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tool.Scopes(); len(got) != 1 || got[0] != "pets:read" {
		t.Errorf("Scopes() = %v", got)
	}
	tests := map[string]struct {
		args   string
		claims map[string]any
		denied bool
	}{
		"allowed by args":       {args: `{"id": 1}`},
		"allowed by claims":     {args: `{"id": 500}`, claims: map[string]any{"groups": []any{"admins"}}},
		"denied":                {args: `{"id": 500}`, claims: map[string]any{"groups": []any{"users"}}, denied: true},
		"no claims (auth none)": {args: `{"id": 500}`, denied: true},
		// claims.groups is a string here: "in" fails, and a rule that
		// cannot be evaluated denies.
		"evaluation error denies": {args: `{"id": 500}`, claims: map[string]any{"groups": 42}, denied: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tool.BuildRequest(json.RawMessage(tt.args), tt.claims)
			if got := errors.Is(err, ErrDenied); got != tt.denied {
				t.Errorf("BuildRequest error = %v; denied %v, want %v", err, got, tt.denied)
			}
		})
	}
}

func TestAllowCompileErrors(t *testing.T) {
	_, err := Compile(Spec{Name: "t", Upstream: "api", Allow: `"yes"`, Scopes: []string{"", "a b"},
		Input: map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "integer"}}}})
	if err == nil {
		t.Fatal("Compile accepted a non-boolean allow rule and bad scopes")
	}
	want := []string{
		`scopes[0]: "" is not a valid scope (printable ASCII without spaces, quotes or backslashes)`,
		`scopes[1]: "a b" is not a valid scope (printable ASCII without spaces, quotes or backslashes)`,
	}
	msg := err.Error()
	for _, w := range want {
		if !contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if !contains(msg, "allow: ") {
		t.Errorf("error %q does not name allow", msg)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
