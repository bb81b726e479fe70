package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// seeds are inputs at the edges of the grammar, valid and not.
var seeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`,
	" \t\r\n{ \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : null } \n",
	`{"id":"1","filler":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`,
	`"<script>&amp;</script>"`, "\"line\u2028para\u2029end\"", "\"\xe2\x80\"", "\"\xe2\x80\xa8\"", "\"\xe2\"",
	`"\u003c\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, "\"\xff\xfe invalid utf-8\"", "\"\x7f\"",
	// refused
	``, ` `, `{`, `}`, `[`, `]`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a" 1}`, `[1 2]`,
	`01`, `1.`, `.5`, `-`, `--1`, `+1`, `1e`, `1e+`, `0x10`, `1 2`, `{} {}`, `tru`, `truee`, `nul`, `True`,
	`"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"tab\there\"", "\"nl\nhere\"", `"\`, `[}`, `{]`, `[1]]`, `{"a":1}}`,
	"\xef\xbb\xbf{}", `NaN`, `Infinity`, `{"a":1,"a":2}`,
	// long strings, with what needs attention at various places
	`"` + strings.Repeat("abcdefgh", 5) + `"`, `"` + strings.Repeat("x", 17) + `<` + strings.Repeat("y", 9) + `"`,
	`"` + strings.Repeat("x", 23) + "\xe2\x80\xa8" + strings.Repeat("y", 8) + `"`, `"` + strings.Repeat("x", 30) + `\"` + strings.Repeat("y", 8) + `"`,
	`"` + strings.Repeat("x", 16) + "\x1f" + strings.Repeat("y", 8) + `"`, `"` + strings.Repeat("x", 16) + "\x7f\xff\xe2" + strings.Repeat("&", 9) + `"`,
	`"` + strings.Repeat("x", 40), "[" + strings.Repeat(" ", 37) + "1" + strings.Repeat("\t ", 9) + "]",
}

// check compares AppendCompactJSON with encoding/json on src: the same verdict, and
// the same bytes after a prefix already in dst.
func check(t *testing.T, src []byte) {
	t.Helper()
	prefix := []byte("prefix:")
	var want bytes.Buffer
	wantErr := json.Compact(&want, src)
	got, ok := AppendCompactJSON(bytes.Clone(prefix), src, false)
	if ok != (wantErr == nil) {
		t.Fatalf("AppendCompactJSON(%q) ok = %v; json.Compact error: %v", src, ok, wantErr)
	}
	if !ok {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("AppendCompactJSON(%q) refused but changed dst to %q", src, got)
		}
	} else if !bytes.Equal(got[len(prefix):], want.Bytes()) {
		t.Fatalf("AppendCompactJSON(%q) = %q, json.Compact = %q", src, got[len(prefix):], want.Bytes())
	}

	wantHTML, err := json.Marshal(json.RawMessage(src))
	gotHTML, ok := AppendCompactJSON(bytes.Clone(prefix), src, true)
	if ok != (err == nil) {
		t.Fatalf("AppendCompactJSON(%q, html) ok = %v; json.Marshal(RawMessage) error: %v", src, ok, err)
	}
	if ok && !bytes.Equal(gotHTML[len(prefix):], wantHTML) {
		t.Fatalf("AppendCompactJSON(%q, html) = %q, json.Marshal(RawMessage) = %q", src, gotHTML[len(prefix):], wantHTML)
	}
}

func TestCompactAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
	}
}

// TestCompactDepth: encoding/json accepts 10,000 nested arrays or objects
// and refuses 10,001; so does AppendCompactJSON, and deep input does not overflow it.
func TestCompactDepth(t *testing.T) {
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1, 3 * maxJSONDepth} {
		check(t, []byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)))
		check(t, []byte(strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)))
		// mixed, so the bit of each level matters
		check(t, []byte(strings.Repeat(`[{"a":`, depth/2)+"1"+strings.Repeat("}]", depth/2)))
	}
	if _, ok := AppendCompactJSON(nil, []byte(strings.Repeat("[", maxJSONDepth)+strings.Repeat("]", maxJSONDepth)), false); !ok {
		t.Error("10,000 nested arrays refused")
	}
	if _, ok := AppendCompactJSON(nil, []byte(strings.Repeat("[", maxJSONDepth+1)+strings.Repeat("]", maxJSONDepth+1)), false); ok {
		t.Error("10,001 nested arrays accepted")
	}
	// A closing bracket of the other kind, deep down.
	check(t, []byte(strings.Repeat("[", 100)+strings.Repeat("]", 99)+"}"))
	check(t, []byte(strings.Repeat(`{"a":[`, 70)+strings.Repeat("]}", 69)+"}]"))
}

func FuzzCompact(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { check(t, src) })
}

// compactBenchBody is an upstream answer of about a kilobyte, pretty-printed.
var compactBenchBody = func() []byte {
	v := map[string]any{"id": "1", "name": "Rex & Co <dogs>", "tags": []string{"dog", "good"}, "filler": strings.Repeat("x", 900), "n": 12.5}
	b, _ := json.MarshalIndent(v, "", "  ")
	return b
}()

func BenchmarkCompact(b *testing.B) {
	b.SetBytes(int64(len(compactBenchBody)))
	dst := make([]byte, 0, 2*len(compactBenchBody))
	for b.Loop() {
		dst, _ = AppendCompactJSON(dst[:0], compactBenchBody, false)
	}
}

func BenchmarkEncodingJSONCompact(b *testing.B) {
	b.SetBytes(int64(len(compactBenchBody)))
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		json.Compact(&buf, compactBenchBody)
	}
}

// prettyBody is a pretty-printed list of objects, as list endpoints send.
var prettyBody = func() []byte {
	var items []map[string]any
	for i := range 200 {
		items = append(items, map[string]any{"id": i, "name": `Rex "the" dog`, "status": "available", "tags": []string{"dog", "good"}, "note": "<b>café</b> & more"})
	}
	b, _ := json.MarshalIndent(items, "", "  ")
	return b
}()

func BenchmarkCompactPretty(b *testing.B) {
	b.SetBytes(int64(len(prettyBody)))
	dst := make([]byte, 0, 2*len(prettyBody))
	for b.Loop() {
		dst, _ = AppendCompactJSON(dst[:0], prettyBody, false)
	}
}

func BenchmarkCompactPrettyHTML(b *testing.B) {
	b.SetBytes(int64(len(prettyBody)))
	dst := make([]byte, 0, 2*len(prettyBody))
	for b.Loop() {
		dst, _ = AppendCompactJSON(dst[:0], prettyBody, true)
	}
}
