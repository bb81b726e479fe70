package mapping

import "unicode/utf8"

// jsonStringSafe[c] is true for the ASCII bytes json.Marshal writes as they are
// in a string (with its default HTML escaping); jsonStringSafeNoHTML also
// for <, > and &, as an Encoder with SetEscapeHTML(false) writes them.
var jsonStringSafe, jsonStringSafeNoHTML [utf8.RuneSelf]bool

func init() {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		jsonStringSafeNoHTML[c] = c != '"' && c != '\\'
		jsonStringSafe[c] = jsonStringSafeNoHTML[c] && c != '<' && c != '>' && c != '&'
	}
}

// AppendJSONString appends s to dst as a JSON string, as json.Marshal writes
// it: ", \ and control characters escaped (\b, \f, \n, \r and \t by their
// short forms), <, >, & and U+2028, U+2029 escaped for HTML, and each byte
// of invalid UTF-8 replaced by \ufffd.
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s, true) }

// appendJSONString is AppendJSONString, with html false as an Encoder with
// SetEscapeHTML(false) writes strings (<, > and & as they are; U+2028 and
// U+2029 are escaped either way).
func appendJSONString(dst []byte, s string, html bool) []byte {
	safe := &jsonStringSafe
	if !html {
		safe = &jsonStringSafeNoHTML
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, > and & for HTML
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
