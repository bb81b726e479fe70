package mapping

import (
	"encoding/json"
	"unicode/utf8"
)

// maxFastDepth bounds the nesting decodeFast handles; deeper values are
// left to encoding/json.
const maxFastDepth = 200

// decodeFast decodes b as decodeExact does (objects as map[string]any,
// arrays as []any, numbers as json.Number), in one pass over the bytes,
// without encoding/json's reflection and buffering. ok false means it did
// not decode b — invalid JSON, trailing data, deep nesting — and
// decodeExact decides, with its error messages. Strings with escapes or
// invalid UTF-8 are decoded by encoding/json, so that every value is the
// same; decode_test.go checks it, including by fuzzing.
func decodeFast(b []byte) (v any, ok bool) {
	d := fastDecoder{b: b}
	d.space()
	if v, ok = d.value(0); !ok {
		return nil, false
	}
	d.space()
	return v, d.i == len(d.b)
}

type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) && isJSONSpace[d.b[d.i]] {
		d.i++
	}
}

func (d *fastDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *fastDecoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == '{':
		if depth >= maxFastDepth {
			return nil, false
		}
		d.i++
		m := make(map[string]any)
		d.space()
		if d.eat('}') {
			return m, true
		}
		for {
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			k, ok := d.str()
			if !ok {
				return nil, false
			}
			d.space()
			if !d.eat(':') {
				return nil, false
			}
			d.space()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v // as encoding/json: the last of repeated keys wins
			d.space()
			if d.eat('}') {
				return m, true
			}
			if !d.eat(',') {
				return nil, false
			}
		}
	case c == '[':
		if depth >= maxFastDepth {
			return nil, false
		}
		d.i++
		a := make([]any, 0)
		d.space()
		if d.eat(']') {
			return a, true
		}
		for {
			d.space()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			d.space()
			if d.eat(']') {
				return a, true
			}
			if !d.eat(',') {
				return nil, false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *fastDecoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// str decodes a string: its bytes when it has no escape and is valid UTF-8,
// else what encoding/json makes of it.
func (d *fastDecoder) str() (string, bool) {
	start := d.i
	d.i++ // the opening quote
	plain := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		d.i++
		switch {
		case c == '"':
			body := d.b[start+1 : d.i-1]
			if plain && utf8.Valid(body) {
				return string(body), true
			}
			var s string
			if json.Unmarshal(d.b[start:d.i], &s) != nil {
				return "", false
			}
			return s, true
		case c < 0x20:
			return "", false
		case c == '\\':
			plain = false
			if d.i >= len(d.b) {
				return "", false
			}
			d.i++ // the escaped byte; encoding/json checks the escape
		}
	}
	return "", false
}

// number reads a JSON number (scanNumber's grammar) as a json.Number.
func (d *fastDecoder) number() (any, bool) {
	end := scanNumber(d.b, d.i)
	if end < 0 {
		return nil, false
	}
	n := json.Number(d.b[d.i:end])
	d.i = end
	return n, true
}
