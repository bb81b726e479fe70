package mapping

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkFastDecode fails when decodeFast decodes what decodeExact refuses,
// or decodes it to another value.
func checkFastDecode(t *testing.T, b []byte) bool {
	t.Helper()
	got, ok := decodeFast(b)
	if !ok {
		return false
	}
	want, err := decodeExact(b)
	if err != nil {
		t.Fatalf("decodeFast decoded %q, which decodeExact refuses: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeFast(%q) = %#v, decodeExact = %#v", b, got, want)
	}
	return true
}

func TestDecodeFast(t *testing.T) {
	for _, s := range []string{
		`{"id":1}`,
		` { "a" : [ 1 , -2.5e+3 , 0 , 1E2 , "x" , true , false , null , { } , [ ] ] , "b" : { "c" : "é€😀" } } `,
		`{"a":1,"a":2}`,
		`{"s":"tab\tquote\"slash\/u\u00e9 \ud83d\ude00"}`,
		`{"bad utf8":"` + "\xff\xfe" + `"}`,
		`{"` + "k\xc3" + `":1}`,
		`"just a string"`, `123`, `[]`, `null`,
		`{"big":123456789012345678901234567890}`,
	} {
		if !checkFastDecode(t, []byte(s)) {
			t.Errorf("decodeFast refused %q", s)
		}
	}
	for _, s := range []string{
		``, ` `, `{`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `1e`, `-`, `tru`, `nul`, `"a`, `"\x"`, `"` + "\x01" + `"`,
		`{} {}`, `{}}`, `{"a":"\u12"}`,
		strings.Repeat("[", maxFastDepth+1) + strings.Repeat("]", maxFastDepth+1),
	} {
		if checkFastDecode(t, []byte(s)) {
			t.Errorf("decodeFast accepted %q", s)
		}
	}
}

// FuzzDecodeFast checks decodeFast against decodeExact (encoding/json).
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"q":"x","tags":["a","b"],"n":-0.5e-3,"o":{"k":null,"t":true}}`,
		`{"s":"\u00e9\n\"","a":[[],{}]}`,
		`[1,2,3]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastDecode(t, b)
	})
}

// TestValidationMemo: arguments the schema accepted are remembered, refused
// ones never are (their errors stay the validator's), and the memo is
// bounded.
func TestValidationMemo(t *testing.T) {
	tool, err := Compile(Spec{Name: "t", Upstream: "u", Path: "/x/{id}", Input: map[string]any{
		"type":       "object",
		"properties": map[string]any{"id": map[string]any{"type": "integer", "minimum": 1}},
		"required":   []any{"id"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tool.BuildRequest([]byte(`{"id":0}`), nil); err == nil || !strings.Contains(err.Error(), "/id") {
			t.Fatalf("id 0: %v, want a validation error naming /id", err)
		}
		r, err := tool.BuildRequest([]byte(`{"id":7}`), nil)
		if err != nil || r.Path != "/x/7" {
			t.Fatalf("id 7: %v %v", r, err)
		}
	}
	if !tool.input.valid.has([]byte(`{"id":7}`)) || tool.input.valid.has([]byte(`{"id":0}`)) {
		t.Error("the memo holds the refused arguments or lacks the accepted ones")
	}
	for i := range maxMemoEntries + 10 {
		raw := []byte(`{"id":` + strconv.Itoa(i+1) + `}`)
		if _, err := tool.BuildRequest(raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tool.input.valid.m); n > maxMemoEntries {
		t.Errorf("the memo holds %d entries, more than %d", n, maxMemoEntries)
	}
}
