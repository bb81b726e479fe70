package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

// Limits of loading. A spec is read once, at load.
const (
	// DefaultMaxSpecBytes caps a spec file or download (GitHub's is 13 MB).
	DefaultMaxSpecBytes = 64 << 20
	// DefaultFetchTimeout bounds the download of a spec given by URL.
	DefaultFetchTimeout = 30 * time.Second
	// validateMaxBytes: documents up to this size are also checked by
	// kin-openapi's validator (warnings only); larger ones are not, because
	// kin-openapi's loader takes seconds and hundreds of MB on them.
	validateMaxBytes = 2 << 20
	// maxRefFiles caps the local files $refs may read.
	maxRefFiles = 64
)

// Source reads specs. The zero value reads files with os.ReadFile and URLs
// with a default client.
type Source struct {
	// ReadFile reads the spec and local $ref files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Client downloads specs given by URL; nil means a client with
	// DefaultFetchTimeout.
	Client *http.Client
	// MaxBytes caps a spec in bytes; zero means DefaultMaxSpecBytes.
	MaxBytes int64
}

// Load reads the spec at location (a file path or an http(s) URL) and
// imports it.
func Load(ctx context.Context, location string, src *Source, opts *Options) (*Result, error) {
	var s Source
	if src != nil {
		s = *src
	}
	if s.ReadFile == nil {
		s.ReadFile = os.ReadFile
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxSpecBytes
	}
	var data []byte
	var err error
	if isURL(location) {
		data, err = fetch(ctx, location, &s)
	} else {
		data, err = s.ReadFile(location)
		if err == nil && int64(len(data)) > s.MaxBytes {
			err = fmt.Errorf("%d bytes; at most %d are read", len(data), s.MaxBytes)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.readFile == nil && !isURL(location) {
		o.readFile = s.ReadFile
		o.baseDir = filepath.Dir(location)
	}
	return Import(data, &o)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func fetch(ctx context.Context, location string, s *Source) ([]byte, error) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a valid URL")
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry a token in its query: name only the host.
		return nil, fmt.Errorf("fetching from %s: %w", u.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching from %s: status %d", u.Host, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching from %s: %w", u.Host, unwrapURLError(err))
	}
	if int64(len(data)) > s.MaxBytes {
		return nil, fmt.Errorf("fetching from %s: more than %d bytes", u.Host, s.MaxBytes)
	}
	return data, nil
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decode parses JSON or YAML into plain JSON values (map[string]any, []any,
// string, json.Number, bool, nil).
func decode(data []byte) (any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(trimmed))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("parsing JSON: %w", err)
		}
		return v, nil
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	return normalize(v, 0)
}

// normalize turns YAML values into JSON values: map keys become strings
// (response codes are integers in YAML), numbers json.Number.
func normalize(v any, depth int) (any, error) {
	if depth > 256 {
		return nil, errors.New("nested more than 256 levels")
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
		return v, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = n
		}
		return m, nil
	case []any:
		for i, e := range v {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		return v, nil
	case int:
		return json.Number(fmt.Sprint(v)), nil
	case int64, uint64, uint, int32:
		return json.Number(fmt.Sprint(v)), nil
	case float64:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("number %v is not representable in JSON", v)
		}
		return json.Number(b), nil
	case time.Time:
		// YAML timestamps (an unquoted date in an example or default).
		return v.Format(time.RFC3339Nano), nil
	case string, bool, nil:
		return v, nil
	}
	return fmt.Sprint(v), nil
}

// convertSwagger2 converts a Swagger 2.0 document to OpenAPI 3 with
// kin-openapi and returns it as plain JSON values.
func convertSwagger2(root map[string]any) (m map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("converting Swagger 2.0: the converter failed: %v", r)
		}
	}()
	raw, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	var v2 openapi2.T
	if err := json.Unmarshal(raw, &v2); err != nil {
		return nil, fmt.Errorf("reading Swagger 2.0: %w", err)
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("converting Swagger 2.0: %w", err)
	}
	out, err := json.Marshal(v3)
	if err != nil {
		return nil, fmt.Errorf("converting Swagger 2.0: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// validate checks a small OpenAPI 3 document with kin-openapi and returns
// its problems as warnings. Examples are not checked: real specs ship
// examples that do not match their schemas, and that does not matter here.
func validate(root map[string]any) (warnings []string) {
	defer func() {
		if r := recover(); r != nil {
			warnings = []string{fmt.Sprintf("spec could not be validated: kin-openapi failed: %v", r)}
		}
	}()
	raw, err := json.Marshal(root)
	if err != nil || len(raw) > validateMaxBytes {
		return nil
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return []string{"spec does not load with kin-openapi's strict loader: " + oneLine(err.Error())}
	}
	err = doc.Validate(context.Background(),
		openapi3.DisableExamplesValidation(),
		openapi3.DisableSchemaDefaultsValidation(),
		openapi3.DisableSchemaPatternValidation(),
		openapi3.DisableSchemaFormatValidation(),
		openapi3.EnableMultiError(),
	)
	if err != nil {
		return []string{"spec is not valid OpenAPI: " + oneLine(err.Error())}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
