package mapping

// Template is a compiled string expression over a fixed set of string
// arguments (for example an MCP prompt's arguments); safe for concurrent use.
type Template struct {
	p *program
}

// CompileTemplate compiles src, which must produce a string, against args
// holding the named arguments; a reference to any other argument is an
// error with its line and column.
func CompileTemplate(field, src string, names []string) (*Template, error) {
	in := &inputSchema{properties: map[string]map[string]any{}, required: map[string]bool{}, closed: true}
	for _, n := range names {
		in.properties[n] = map[string]any{"type": "string"}
	}
	p, err := compileIn(field, src, in, RequestEnv{}, stringResult)
	if err != nil {
		return nil, err
	}
	return &Template{p: p}, nil
}

// Eval evaluates the template; absent arguments are nil.
func (t *Template) Eval(args map[string]string) (string, error) {
	m := make(map[string]any, len(args))
	for k, v := range args {
		m[k] = v
	}
	v, err := t.p.run(&RequestEnv{Args: m, Claims: map[string]any{}, Meter: newMeter()})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}
