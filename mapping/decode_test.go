package mapping

import (
	"reflect"
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
