package configs

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable that overrides a setting.
const EnvPrefix = "API2MCP_"

// delim separates koanf key paths. Map keys in mcp.yaml (header and query
// parameter names, upstream names) may contain dots, so koanf's default "."
// is not usable.
const delim = "\x1f"

// Options configure [Load].
type Options struct {
	// Environ lists the environment as KEY=value; nil means os.Environ.
	Environ func() []string
	// LookupEnv resolves ${VAR}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads the config, ${file:…} secrets and OpenAPI specs; nil
	// means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// HTTPClient downloads OpenAPI specs given by URL; nil means a client
	// with a 30s timeout.
	HTTPClient *http.Client
}

// Load reads, checks and compiles the configuration at path. The error joins
// every problem found, each prefixed with its field path.
func Load(path string, opts *Options) (*Config, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Environ == nil {
		o.Environ = os.Environ
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	data, err := o.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(path, data, &o)
}

func parse(path string, data []byte, o *Options) (*Config, error) {
	ko := koanf.NewWithConf(koanf.Conf{Delim: delim})
	if err := ko.Load(rawbytes.Provider(data), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	var errs []error
	errs = append(errs, applyEnv(ko, o.Environ(), referencedVars(data))...)
	errs = append(errs, checkPlaceholders(ko.Raw())...)

	var f File
	dc := &mapstructure.DecoderConfig{
		ErrorUnused:      true,
		WeaklyTypedInput: false,
		DecodeHook:       durationHook,
		TagName:          "koanf",
		Result:           &f,
	}
	if err := ko.UnmarshalWithConf("", &f, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		errs = append(errs, decodeErrors(err)...)
	}
	secrets, unresolved, serrs := resolveSecrets(&f, o)
	errs = append(errs, serrs...)
	cfg, verrs := compile(path, &f, unresolved, o)
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.secrets = secrets
	return cfg, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook parses durations from strings ("10s", "1m30s") and refuses
// bare numbers, which would silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("want a duration such as \"10s\" or \"1m30s\", got %v", data)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("want a duration such as \"10s\" or \"1m30s\", got %q", s)
	}
	return d, nil
}

// decodeErrors flattens mapstructure's joined errors into one error per field.
func decodeErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		// mapstructure wraps the joined field errors in a *fmt.wrapError;
		// errors.As would stop at the first field, so unwrap one level at a
		// time until a DecodeError is reached.
		de, ok := err.(*mapstructure.DecodeError)
		if !ok {
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
				return
			}
		}
		if ok {
			name := fieldPath(strings.ReplaceAll(de.Name(), delim, "."))
			// mapstructure ≥ 2.5 names the root by its Go type.
			if rest, ok := strings.CutPrefix(name, "configs.File"); ok {
				name = strings.TrimPrefix(rest, ".")
			}
			inner := de.Unwrap()
			if j, ok := inner.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			// One error per unknown key, each with its full path (the
			// top-level section has an empty name).
			if keys, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
				for _, k := range strings.Split(keys, ", ") {
					if name != "" {
						k = name + "." + k
					}
					out = append(out, fmt.Errorf("%s: unknown key", k))
				}
				return
			}
			out = append(out, fmt.Errorf("%s: %s", name, decodeMessage(inner)))
			return
		}
		out = append(out, errors.New(strings.ReplaceAll(err.Error(), delim, ".")))
	}
	walk(err)
	return out
}

func decodeMessage(err error) string {
	var ute *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("want %s, got %s %v", typeName(ute.Expected.Type()), yamlKind(ute.Value), ute.Value)
	}
	return err.Error()
}

// fieldPath writes mapstructure's map keys (upstreams[api].timeout) the way
// validation writes them (upstreams.api.timeout); list indexes stay as they
// are (tools[0]).
func fieldPath(name string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(name, '[')
		if open < 0 {
			b.WriteString(name)
			return b.String()
		}
		end := strings.IndexByte(name[open:], ']')
		if end < 0 {
			b.WriteString(name)
			return b.String()
		}
		key := name[open+1 : open+end]
		b.WriteString(name[:open])
		if _, err := strconv.Atoi(key); err == nil {
			b.WriteString("[" + key + "]")
		} else {
			b.WriteString("." + key)
		}
		name = name[open+end+1:]
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		if t == durationType {
			return "a duration"
		}
		return "an integer"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func yamlKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64, float64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// applyEnv applies API2MCP_SERVER_* overrides. An API2MCP_ variable that names
// no setting is an error, so that a typo does not go unnoticed, unless the
// file refers to it as ${NAME} (referenced): then it is the file's own, such
// as ${API2MCP_ENCRYPTION_KEY}.
func applyEnv(ko *koanf.Koanf, environ []string, referenced map[string]bool) []error {
	settings := envSettings()
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		s, known := settings[name]
		if !known && referenced[name] {
			continue
		}
		if !known {
			errs = append(errs, fmt.Errorf("environment: %s names no setting (known: %s)", name, strings.Join(sortedNames(settings), ", ")))
			continue
		}
		v, err := s.parse(value)
		if err != nil {
			errs = append(errs, fmt.Errorf("environment: %s: %v", name, err))
			continue
		}
		if err := ko.Set(s.path, v); err != nil {
			errs = append(errs, fmt.Errorf("environment: %s: %v", name, err))
		}
	}
	return errs
}

// referencedVars returns the names of the environment variables the file
// refers to as ${NAME}.
func referencedVars(data []byte) map[string]bool {
	names := map[string]bool{}
	for _, m := range placeholderRE.FindAllSubmatch(data, -1) {
		if len(m[1]) > 0 {
			names[string(m[1])] = true
		}
	}
	return names
}

type envSetting struct {
	path  string
	parse func(string) (any, error)
}

// envSettings derives the overridable settings from ServerSpec's fields, so
// that a new field is overridable without being listed twice.
func envSettings() map[string]envSetting {
	m := map[string]envSetting{}
	t := reflect.TypeFor[ServerSpec]()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("koanf")
		s := envSetting{path: "server" + delim + key}
		switch f.Type.Kind() {
		case reflect.Bool:
			s.parse = func(v string) (any, error) { return strconv.ParseBool(v) }
		case reflect.Int64:
			if f.Type == durationType {
				s.parse = func(v string) (any, error) { return v, nil }
			} else {
				s.parse = func(v string) (any, error) { return strconv.ParseInt(v, 10, 64) }
			}
		case reflect.Slice:
			s.parse = func(v string) (any, error) {
				var out []any
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" {
						out = append(out, e)
					}
				}
				return out, nil
			}
		default:
			s.parse = func(v string) (any, error) { return v, nil }
		}
		m[EnvPrefix+"SERVER_"+strings.ToUpper(key)] = s
	}
	return m
}

func sortedNames(m map[string]envSetting) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
