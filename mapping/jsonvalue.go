package mapping

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// appendJSONValue appends v as an Encoder with SetEscapeHTML(false) writes
// it (without the newline), for the values expressions and the fast
// decoder make: nil, bool, string, int, float64, json.Number, []any and
// map[string]any (keys sorted). ok is false for anything else, or a value
// encoding/json refuses (NaN, infinities, an invalid json.Number), and
// the caller asks encoding/json, for its bytes or its error.
// FuzzAppendJSONValue checks it against encoding/json.
func appendJSONValue(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case string:
		return appendJSONString(dst, v, false), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case float64:
		return appendJSONFloat(dst, v)
	case json.Number:
		// encoding/json writes a valid number as it is, "" as 0, and
		// refuses anything else.
		if v == "" {
			return append(dst, '0'), true
		}
		if end := scanNumber([]byte(v), 0); end != len(v) {
			return dst, false
		}
		return append(dst, v...), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true // as encoding/json writes a nil slice
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSONValue(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		var small [16]string // most objects' keys, without an allocation
		keys := small[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k, false)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendJSONValue(dst, v[k]); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	}
	return dst, false
}

// appendJSONFloat writes f as encoding/json does: the shortest decimal
// that reads back as f, in exponent form below 1e-6 and from 1e21, with
// the exponent's leading zero dropped (1e-07 is written 1e-7).
func appendJSONFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}
