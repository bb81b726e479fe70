package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// RequestEnv is what request-side expressions see. Expressions never see the
// process environment, upstream settings or secrets.
type RequestEnv struct {
	// Args are the validated arguments, defaults applied.
	Args map[string]any `expr:"args"`
	// Claims describe the authenticated caller; empty when auth is off.
	Claims map[string]any `expr:"claims"`
	// Meter bounds the work of the call's expressions (see evalBudget).
	Meter *Meter `expr:"__meter"`
}

// ResponseEnv is what response expressions see: the request's environment
// and the upstream's answer.
type ResponseEnv struct {
	Args   map[string]any `expr:"args"`
	Claims map[string]any `expr:"claims"`
	// Status is the upstream's HTTP status code.
	Status int `expr:"status"`
	// Headers are the upstream's response headers, by lower-case name (the
	// first value of each).
	Headers map[string]string `expr:"headers"`
	// Body is the decoded JSON body, the body as a string for text, or nil
	// for an empty or binary body.
	Body any `expr:"body"`
	// BodyBase64 is a binary body in base64, for response.content; empty
	// otherwise.
	BodyBase64 string `expr:"body_base64"`
	// Meter bounds the work of the call's expressions (see evalBudget).
	Meter *Meter `expr:"__meter"`
}

// maxExprNodes bounds the size of one expression's syntax tree.
const maxExprNodes = 2000

// exprKind is the result an expression must produce.
type exprKind int

const (
	anyResult exprKind = iota
	boolResult
	stringResult
)

// program is one compiled expression and the config field it came from.
type program struct {
	field string // e.g. "query.status"
	prog  *vm.Program
	want  exprKind
}

// compileExpr compiles a request expression: src against RequestEnv.
func compileExpr(field, src string, in *inputSchema) (*program, error) {
	return compileIn(field, src, in, RequestEnv{}, anyResult)
}

// compileIn compiles src against env (RequestEnv or ResponseEnv), with our
// function library, expecting a result of kind want. When the input schema
// is closed, a reference to an argument it does not declare is an error with
// the line and column of the reference.
func compileIn(field, src string, in *inputSchema, env any, want exprKind) (*program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("%s: empty expression", field)
	}
	// Compile twice: once as written, so that result and argument types are
	// checked (AsBool, AsKind), and once with every call metered (see
	// Meter), which hides static types behind __charge; that one runs. run
	// checks the kind of the result.
	opts := append([]expr.Option{expr.Env(env), expr.MaxNodes(maxExprNodes)}, libraryOptions()...)
	checkOpts := opts
	switch want {
	case boolResult:
		checkOpts = append(checkOpts, expr.AsBool())
	case stringResult:
		checkOpts = append(checkOpts, expr.AsKind(reflect.String))
	}
	if _, err := expr.Compile(src, checkOpts...); err != nil {
		return nil, fmt.Errorf("%s: %s", field, exprErrorText(err))
	}
	p, err := expr.Compile(src, append(append(opts, meterOptions()...), expr.Patch(meteredCalls{}))...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", field, exprErrorText(err))
	}
	if in != nil && in.closed {
		v := &argRefs{}
		node := p.Node()
		ast.Walk(&node, v)
		for _, ref := range v.refs {
			if _, ok := in.properties[ref.name]; !ok {
				e := &file.Error{Location: ref.loc, Message: fmt.Sprintf("unknown argument %q (not in input.properties)", ref.name)}
				e.Bind(p.Source())
				return nil, fmt.Errorf("%s: %s", field, exprErrorText(e))
			}
		}
	}
	return &program{field: field, prog: p, want: want}, nil
}

// exprErrorText renders an expr error as "message (line L, column C)" plus
// the caret snippet expr produces.
func exprErrorText(err error) string {
	fe, ok := err.(*file.Error)
	if !ok {
		return err.Error()
	}
	return fmt.Sprintf("%s (line %d, column %d)%s", fe.Message, fe.Line, fe.Column+1, fe.Snippet)
}

type argRef struct {
	name string
	loc  file.Location
}

// argRefs collects args.NAME and args["NAME"] references.
type argRefs struct{ refs []argRef }

func (v *argRefs) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "args" {
		return
	}
	if s, ok := m.Property.(*ast.StringNode); ok {
		v.refs = append(v.refs, argRef{name: s.Value, loc: m.Property.Location()})
	}
}

// EvalError is an expression that failed at call time.
type EvalError struct {
	Field string
	Err   error
}

func (e *EvalError) Error() string { return fmt.Sprintf("evaluating %s: %v", e.Field, e.Err) }
func (e *EvalError) Unwrap() error { return e.Err }

func (p *program) run(env any) (any, error) {
	v, err := expr.Run(p.prog, env)
	if err != nil {
		return nil, &EvalError{Field: p.field, Err: err}
	}
	switch p.want {
	case boolResult:
		if _, ok := v.(bool); !ok {
			return nil, &EvalError{Field: p.field, Err: fmt.Errorf("want true or false, got %s", jsonKind(v))}
		}
	case stringResult:
		if _, ok := v.(string); !ok {
			return nil, &EvalError{Field: p.field, Err: fmt.Errorf("want a string, got %s", jsonKind(v))}
		}
	}
	return v, nil
}

// scalarText formats a scalar expression result for a URL or header.
// ok is false for values that are not scalars (arrays, objects).
func scalarText(v any) (s string, ok bool, err error) {
	switch v := v.(type) {
	case string:
		return v, true, nil
	case bool:
		return strconv.FormatBool(v), true, nil
	case int:
		return strconv.Itoa(v), true, nil
	case int64:
		return strconv.FormatInt(v, 10), true, nil
	case int32:
		return strconv.FormatInt(int64(v), 10), true, nil
	case uint, uint64, uint32, int8, int16, uint8, uint16:
		return fmt.Sprint(v), true, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", false, fmt.Errorf("%v is not a JSON number", v)
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true, nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true, nil
	case json.Number:
		return string(v), true, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), true, nil
	case time.Duration:
		return v.String(), true, nil
	}
	return "", false, nil
}

// textValues turns an expression result into the strings of a query
// parameter or header: nil gives none, an array gives one per element, an
// object gives its JSON encoding.
func textValues(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok, err := scalarText(v); ok || err != nil {
		return []string{s}, err
	}
	if arr, ok := asSlice(v); ok {
		out := make([]string, 0, len(arr))
		for i, e := range arr {
			if e == nil {
				continue
			}
			s, ok, err := scalarText(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			if !ok {
				b, err := json.Marshal(e)
				if err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
				s = string(b)
			}
			out = append(out, s)
		}
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("result is not representable as JSON: %w", err)
	}
	return []string{string(b)}, nil
}

// asSlice returns the elements of any slice except []byte (expr functions
// such as split return typed slices).
func asSlice(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []byte:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
