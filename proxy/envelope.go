package proxy

// callEnvelope is what the fast path reads of a JSON-RPC tools/call
// request: the id as it was sent (a number or a string), the tool name and
// the arguments as they were sent (nil when absent).
type callEnvelope struct {
	id        []byte
	name      string
	arguments []byte
}

// maxEnvelopeDepth bounds the nesting of skipped values (encoding/json
// allows 10,000; deeper bodies are left to the SDK).
const maxEnvelopeDepth = 1000

// parseCall reads body, in one pass and without allocating (but for the
// name), as a single JSON-RPC 2.0 tools/call request of exactly this shape:
//
//	{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":NAME,"arguments":ARGS}}
//
// with the members in any order, "arguments" optional, ID a number or a
// string, and ARGS any JSON value. It is strict on purpose: everything
// encoding/json would read differently from the bytes or that the fast path
// does not handle — other members (_meta), repeated members, member names
// in another case or escaped, escapes or non-ASCII bytes in jsonrpc, method
// or name, batches, invalid JSON — is refused (ok false), and the request
// goes to the SDK. When ok, body is valid JSON (checkBody relies on it) and
// the values are exactly those the fast path's former decoder (encoding/json
// into a struct, unknown fields refused) read: envelope_test.go checks both,
// including by fuzzing.
func parseCall(body []byte) (env callEnvelope, ok bool) {
	p := envParser{b: body}
	p.space()
	if !p.eat('{') {
		return callEnvelope{}, false
	}
	var seen [4]bool // jsonrpc, id, method, params
	var version, method []byte
	for first := true; ; first = false {
		p.space()
		if p.eat('}') {
			if first {
				return callEnvelope{}, false
			}
			break
		}
		if !first && !(p.eat(',') && p.spaceThen()) {
			return callEnvelope{}, false
		}
		key, ok := p.plainString()
		if !ok {
			return callEnvelope{}, false
		}
		p.space()
		if !p.eat(':') {
			return callEnvelope{}, false
		}
		p.space()
		var slot int
		switch string(key) {
		case "jsonrpc":
			slot = 0
			version, ok = p.plainString()
		case "id":
			slot = 1
			start := p.i
			ok = p.skipValue(0)
			env.id = body[start:p.i]
		case "method":
			slot = 2
			method, ok = p.plainString()
		case "params":
			slot = 3
			ok = p.params(&env)
		default:
			return callEnvelope{}, false
		}
		if !ok || seen[slot] {
			return callEnvelope{}, false
		}
		seen[slot] = true
	}
	p.space()
	if p.i != len(p.b) || !seen[0] || !seen[1] || !seen[2] || !seen[3] ||
		string(version) != "2.0" || string(method) != "tools/call" || !plainID(env.id) {
		return callEnvelope{}, false
	}
	return env, true
}

// envParser is a cursor over a JSON text.
type envParser struct {
	b []byte
	i int
}

func (p *envParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// spaceThen skips white space and reports true (for use in conditions).
func (p *envParser) spaceThen() bool {
	p.space()
	return true
}

func (p *envParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// params reads the params object: "name" (required) and "arguments".
func (p *envParser) params(env *callEnvelope) bool {
	if !p.eat('{') {
		return false
	}
	var haveName, haveArgs bool
	for first := true; ; first = false {
		p.space()
		if p.eat('}') {
			return haveName
		}
		if !first && !(p.eat(',') && p.spaceThen()) {
			return false
		}
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.space()
		if !p.eat(':') {
			return false
		}
		p.space()
		switch string(key) {
		case "name":
			name, ok := p.plainString()
			if !ok || haveName {
				return false
			}
			env.name, haveName = string(name), true
		case "arguments":
			start := p.i
			if !p.skipValue(0) || haveArgs {
				return false
			}
			env.arguments, haveArgs = p.b[start:p.i], true
		default:
			return false
		}
	}
}

// plainString reads a string of printable ASCII without escapes and returns
// its contents: the bytes are then the value.
func (p *envParser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// skipValue moves past one JSON value, checking its grammar as
// encoding/json does.
func (p *envParser) skipValue(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{':
		if depth >= maxEnvelopeDepth {
			return false
		}
		p.i++
		p.space()
		if p.eat('}') {
			return true
		}
		for {
			p.space()
			if !p.skipString() {
				return false
			}
			p.space()
			if !p.eat(':') {
				return false
			}
			p.space()
			if !p.skipValue(depth + 1) {
				return false
			}
			p.space()
			if p.eat('}') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case c == '[':
		if depth >= maxEnvelopeDepth {
			return false
		}
		p.i++
		p.space()
		if p.eat(']') {
			return true
		}
		for {
			p.space()
			if !p.skipValue(depth + 1) {
				return false
			}
			p.space()
			if p.eat(']') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.skipNumber()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return false
}

func (p *envParser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// skipString moves past a string: no control characters, valid escapes;
// other bytes (UTF-8 or not) are accepted, as encoding/json accepts them.
func (p *envParser) skipString() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.b) {
				return false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p.b)-p.i < 4 {
					return false
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipNumber moves past -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *envParser) skipNumber() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits moves past [0-9]* and reports whether there was one.
func (p *envParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
