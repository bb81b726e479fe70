package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var stringSeeds = []string{
	"", "plain", `quote " and \ backslash`, "\b\f\n\r\t\x00\x01\x1f\x7f", "<script>&amp;</script>",
	"line\u2028para\u2029end", "café ☕ 😀", "\xff\xfe bad \xe2\x80 utf-8 \xed\xa0\x80 surrogate", "\xe2\x80\xa8",
	`{"id":1,"name":"Rex"}`, strings.Repeat("x", 100) + "\xc3",
	// long ASCII runs, with what needs attention at various places
	strings.Repeat("x", 17) + "<" + strings.Repeat("y", 30), strings.Repeat("x", 16) + "é" + strings.Repeat("y", 20) + "\n",
	strings.Repeat("x", 33) + "\u2028" + strings.Repeat("y", 15) + "\x00", strings.Repeat("abcdefgh", 9) + "\x80",
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got := AppendJSONString([]byte("prefix:"), s)
	if string(got) != "prefix:"+string(want) {
		t.Fatalf("AppendString(%q) = %q, json.Marshal = %q", s, got[len("prefix:"):], want)
	}
}

func TestAppendStringAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range stringSeeds {
		checkString(t, s)
	}
	for c := range 256 {
		checkString(t, string([]byte{byte(c)}))
		checkString(t, "a"+string(rune(c))+"b")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func BenchmarkAppendString(b *testing.B) {
	s := string(prettyBody)
	b.SetBytes(int64(len(s)))
	dst := make([]byte, 0, 2*len(s))
	for b.Loop() {
		dst = AppendJSONString(dst[:0], s)
	}
}

func BenchmarkEncodingJSONString(b *testing.B) {
	s := string(prettyBody)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		json.Marshal(s)
	}
}

// BenchmarkAppendStringCompactJSON quotes what a tool's text usually is:
// compact JSON.
func BenchmarkAppendStringCompactJSON(b *testing.B) {
	var buf bytes.Buffer
	json.Compact(&buf, prettyBody)
	s := buf.String()
	b.SetBytes(int64(len(s)))
	dst := make([]byte, 0, 2*len(s))
	for b.Loop() {
		dst = AppendJSONString(dst[:0], s)
	}
}
