package configs

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/api2mcp/api2mcp/mapping/openapi"
)

// Skeleton writes an mcp.yaml a user can start from: the upstream (the
// spec's first server, or a placeholder), the openapi entry and, commented
// out, one override per imported operation to rename, describe or hide it.
// res is the spec's import (nil for none).
func Skeleton(location string, res *openapi.Result) string {
	url := "http://127.0.0.1:8080"
	if res != nil && len(res.Servers) > 0 && strings.HasPrefix(res.Servers[0], "http") && !strings.Contains(res.Servers[0], "{") {
		url = res.Servers[0]
	}
	var b strings.Builder
	if res != nil && res.Title != "" {
		fmt.Fprintf(&b, "# %s %s\n", oneLine(res.Title), oneLine(res.Version))
	}
	b.WriteString("upstreams:\n  api:\n")
	fmt.Fprintf(&b, "    url: %s\n", strconv.Quote(url))
	b.WriteString("    # credentials: { scheme_name: ${API_TOKEN} }   # for the spec's security schemes\n")
	b.WriteString("openapi:\n")
	fmt.Fprintf(&b, "  - spec: %s\n", strconv.Quote(location))
	b.WriteString("    upstream: api\n")
	if res == nil || len(res.Tools) == 0 {
		return b.String()
	}
	b.WriteString("    # include: [\"tag:NAME\", \"GET /path/*\"]\n")
	b.WriteString("    # overrides:\n")
	for _, t := range res.Tools {
		key := t.OperationID
		if key == "" || !plainKey.MatchString(key) {
			key = strconv.Quote(t.Operation)
		}
		fmt.Fprintf(&b, "    #   %s: { name: %s, hidden: false }   # %s", key, strconv.Quote(t.Spec.Name), t.Operation)
		if t.Spec.Title != "" {
			b.WriteString(" — " + oneLine(t.Spec.Title))
		}
		b.WriteString("\n")
	}
	return b.String()
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// ImportOpenAPI imports the spec at location as an openapi entry would,
// without a config (for api2mcp openapi).
func ImportOpenAPI(location string, o *Options) (*openapi.Result, error) {
	src := &openapi.Source{}
	if o != nil {
		src.ReadFile, src.Client = o.ReadFile, o.HTTPClient
	}
	if !strings.HasPrefix(location, "http://") && !strings.HasPrefix(location, "https://") {
		if abs, err := filepath.Abs(location); err == nil {
			location = abs
		}
	}
	return openapi.Load(context.Background(), location, src, &openapi.Options{Upstream: "api"})
}
