package mapping

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// checkValue compares appendJSONValue with encoding/json on v: where it
// answers, the same bytes; where encoding/json fails, it does not answer.
func checkValue(t *testing.T, v any) {
	t.Helper()
	want, err := encodeJSON(v)
	got, ok := appendJSONValue([]byte("prefix:"), v)
	if err != nil {
		if ok {
			t.Fatalf("%#v: appendJSONValue wrote %q, encoding/json fails: %v", v, got, err)
		}
		return
	}
	if ok && string(got) != "prefix:"+string(want) {
		t.Fatalf("%#v: appendJSONValue %q, encoding/json %q", v, got[len("prefix:"):], want)
	}
}

func TestAppendJSONValueAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "<a href=\"x\">&amp;</a>", "line\u2028para\u2029", "bad \xff utf-8", "\x00\x1f\t\n",
		0, -1, math.MaxInt64, math.MinInt64, 0.0, math.Copysign(0, -1), 1.5, -2.25, 1e20, 1e21, 123456789e15, 1e-6, 1e-7,
		9.999999e-7, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 0.1, 1.0 / 3,
		math.NaN(), math.Inf(1), math.Inf(-1),
		json.Number("12345678901234567890123"), json.Number("-1.5e-10"), json.Number(""), json.Number("01"), json.Number("abc"), json.Number("1 "),
		[]any{}, []any{nil, 1, "a", []any{map[string]any{}}}, map[string]any{},
		[]any(nil), map[string]any(nil), map[string]any{"a": []any(nil), "b": map[string]any(nil)}, []any{[]any(nil)},
		map[string]any{"b": 1, "a": []any{2.5, "x"}, "<k>": map[string]any{"z": nil, "é": true}, "": "empty key", "\xff": 1},
		[]any{math.NaN()}, map[string]any{"a": math.Inf(1)},
		[]string{"not", "ours"}, int64(5), map[string]string{"a": "b"}, struct{ A int }{1},
	} {
		checkValue(t, v)
	}
}

// FuzzAppendJSONValue decodes each input as the response shaping does and
// compares the encodings of the value, and of strings and numbers taken
// from the input as they are.
func FuzzAppendJSONValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x<y",{"b":null}],"c":true}`, `[1e-7,1e21,-0.0,123456789012345678901234567890]`, `"\u2028\ud800"`, "\"\xff\""} {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if v, err := decodeJSON([]byte(s)); err == nil {
			checkValue(t, v)
		}
		checkValue(t, s)
		checkValue(t, x)
		checkValue(t, json.Number(strings.TrimSpace(s)))
		checkValue(t, map[string]any{s: x, "k": []any{s}})
	})
}

func BenchmarkAppendJSONValue(b *testing.B) {
	v, err := decodeJSON(largeBody)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		appendJSONValue(nil, v)
	}
}

func BenchmarkEncodingJSONValue(b *testing.B) {
	v, err := decodeJSON(largeBody)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		encodeJSON(v)
	}
}
