package mapping

// JSON written the way encoding/json writes it, byte for byte, several
// times faster on the paths a proxied call takes for every byte of an
// upstream's answer:
//
//   - AppendCompactJSON validates and compacts in one pass, as json.Compact
//     does (and, with HTML escaping, as json.Marshal writes a
//     json.RawMessage). encoding/json's scanner calls a state function per
//     byte, which made compacting an answer the largest single cost of a
//     proxied call with a body of a kilobyte or more.
//   - AppendJSONString (jsonstring.go) quotes a string as json.Marshal
//     does, into the caller's buffer rather than a fresh one.
//
// Only the accepting path of AppendCompactJSON is here. On input
// encoding/json refuses, it reports false and the caller asks encoding/json
// for its error, so the messages stay the standard library's. FuzzCompact
// and FuzzAppendString check the outcomes and the bytes against
// encoding/json.

import "slices"

// maxJSONDepth is encoding/json's nesting limit (maxNestingDepth): 10,000
// open arrays and objects are accepted, one more is not.
const maxJSONDepth = 10000

// jsonPlain[c] is true for the bytes a string may hold as they are; jsonHTMLPlain[c]
// also excludes those escaped for HTML (<, >, &, and 0xE2, the first byte
// of U+2028 and U+2029).
var jsonPlain, jsonHTMLPlain [256]bool

func init() {
	for c := 0x20; c < 256; c++ {
		jsonPlain[c] = c != '"' && c != '\\'
		jsonHTMLPlain[c] = jsonPlain[c] && c != '<' && c != '>' && c != '&' && c != 0xE2
	}
}

const hexDigits = "0123456789abcdef"

// The parser's states between tokens; those before wantColon are where a
// string may come.
const (
	wantValue        = iota // a value: at the top, after ':' or after ',' in an array
	wantValueOrClose        // a value or ']': after '['
	wantKeyOrClose          // a key or '}': after '{'
	wantKey                 // a key: after ',' in an object
	wantColon               // ':' after a key
	afterValue              // ',', a closing bracket, or the end after the top value
)

// AppendCompactJSON appends src to dst with the white space between tokens
// removed, as json.Compact does; with escapeHTML also with <, >, & and
// U+2028, U+2029 escaped in strings, as json.Marshal writes a
// json.RawMessage (except that an empty src is refused, where json.Marshal
// writes a nil RawMessage as null). It reports false, and returns dst at
// its length (bytes past it may have been written, as append may), when
// src is not one JSON value (with white space around it) that
// encoding/json accepts. As in encoding/json, invalid UTF-8 in strings is
// kept as it is.
func AppendCompactJSON(dst, src []byte, escapeHTML bool) ([]byte, bool) {
	safe := &jsonPlain
	if escapeHTML {
		safe = &jsonHTMLPlain
	}
	// out is written by index: without HTML escapes the output is never
	// longer than src, and each escape makes room for itself.
	orig := len(dst)
	out := slices.Grow(dst, len(src))
	out = out[:cap(out)]
	j := orig
	// open has a bit set for each open container that is an object.
	var open [maxJSONDepth/64 + 1]uint64
	depth, state := 0, wantValue
	i, n := 0, len(src)
	for {
		for i < n && isJSONSpace[src[i]] {
			i++
		}
		if i == n {
			if state != afterValue || depth != 0 {
				return dst[:orig], false
			}
			return out[:j], true
		}
		c := src[i]
		if c == '"' && state < wantColon {
			// A string, where a value or a key may be.
			var ok bool
			if out, j, i, ok = compactString(out, j, src, i, safe); !ok {
				return dst[:orig], false
			}
			if state == wantKeyOrClose || state == wantKey {
				state = wantColon
			} else {
				state = afterValue
			}
			continue
		}
		switch state {
		case wantValue, wantValueOrClose:
			switch {
			case c == '{' || c == '[':
				if depth == maxJSONDepth {
					return dst[:orig], false
				}
				if c == '{' {
					open[depth/64] |= 1 << (depth % 64)
					state = wantKeyOrClose
				} else {
					open[depth/64] &^= 1 << (depth % 64)
					state = wantValueOrClose
				}
				depth++
			case c == ']' && state == wantValueOrClose:
				depth--
				state = afterValue
			default: // a number, true, false or null
				var end int
				if c == '-' || c >= '0' && c <= '9' {
					end = scanNumber(src, i)
				} else {
					end = scanLiteral(src, i)
				}
				if end < 0 {
					return dst[:orig], false
				}
				j += copy(out[j:], src[i:end])
				i = end
				state = afterValue
				continue
			}
		case wantKeyOrClose, wantKey:
			switch {
			case c == '}' && state == wantKeyOrClose:
				depth--
				state = afterValue
			default:
				return dst[:orig], false
			}
		case wantColon:
			if c != ':' {
				return dst[:orig], false
			}
			state = wantValue
		case afterValue:
			if depth == 0 {
				return dst[:orig], false // something after the top value
			}
			inObject := open[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch {
			case c == ',' && inObject:
				state = wantKey
			case c == ',':
				state = wantValue
			case c == '}' && inObject, c == ']' && !inObject:
				depth--
			default:
				return dst[:orig], false
			}
		}
		// A one-byte token.
		out[j] = c
		j++
		i++
	}
}

// isJSONSpace[c] is true for JSON's white space.
var isJSONSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// compactString copies the string starting at src[i] (its opening quote)
// to out[j:] after checking it, and returns out (grown for HTML escapes),
// the new j and the index after the closing quote.
func compactString(out []byte, j int, src []byte, i int, safe *[256]bool) ([]byte, int, int, bool) {
	n := len(src)
	start := i
	for i++; ; {
		for i < n && safe[src[i]] {
			i++
		}
		if i == n {
			return out, j, i, false
		}
		switch c := src[i]; {
		case c == '"':
			i++
			j += copy(out[j:], src[start:i])
			return out, j, i, true
		case c == '\\':
			if i+1 == n {
				return out, j, i, false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > n || !isHexDigit(src[i+2]) || !isHexDigit(src[i+3]) || !isHexDigit(src[i+4]) || !isHexDigit(src[i+5]) {
					return out, j, i, false
				}
				i += 6
			default:
				return out, j, i, false
			}
		case c < 0x20:
			return out, j, i, false
		case c == 0xE2: // only with HTML escaping
			if i+2 < n && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
				out, j = appendEscape(out, j, src, start, i, '2', '0', '2', hexDigits[src[i+2]&0xF])
				i += 3
				start = i
			} else {
				i++
			}
		default: // <, > or &, with HTML escaping
			out, j = appendEscape(out, j, src, start, i, '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			i++
			start = i
		}
	}
}

// appendEscape copies src[start:i] to out[j:] followed by \u and the four hex
// digits, making room for them and for the rest of src.
func appendEscape(out []byte, j int, src []byte, start, i int, h1, h2, h3, h4 byte) ([]byte, int) {
	if need := j + (i - start) + 6 + (len(src) - i); need > len(out) {
		out = slices.Grow(out[:j], need-j)
		out = out[:cap(out)]
	}
	j += copy(out[j:], src[start:i])
	j += copy(out[j:], []byte{'\\', 'u', h1, h2, h3, h4})
	return out, j
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDecimalDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber returns the index after the number starting at src[i], or -1 if
// there is none there: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(src []byte, i int) int {
	n := len(src)
	if src[i] == '-' {
		if i++; i == n {
			return -1
		}
	}
	switch {
	case src[i] == '0':
		i++
	case isDecimalDigit(src[i]):
		for i++; i < n && isDecimalDigit(src[i]); i++ {
		}
	default:
		return -1
	}
	if i < n && src[i] == '.' {
		if i++; i == n || !isDecimalDigit(src[i]) {
			return -1
		}
		for i++; i < n && isDecimalDigit(src[i]); i++ {
		}
	}
	if i < n && (src[i] == 'e' || src[i] == 'E') {
		if i++; i < n && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i == n || !isDecimalDigit(src[i]) {
			return -1
		}
		for i++; i < n && isDecimalDigit(src[i]); i++ {
		}
	}
	return i
}

// scanLiteral returns the index after the true, false or null at src[i], or -1.
func scanLiteral(src []byte, i int) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(src)-i >= len(lit) && string(src[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}
