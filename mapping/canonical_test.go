package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCanonicalArgs(t *testing.T) {
	tool, err := Compile(Spec{Name: "t", Upstream: "u", Path: "/x", Input: map[string]any{
		"type": "object",
		"properties": map[string]any{
			"n":    map[string]any{"type": "number"},
			"i":    map[string]any{"type": "integer", "default": 7},
			"obj":  map[string]any{"type": "object"},
			"list": map[string]any{"type": "array"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	canon := func(args string) string {
		r, err := tool.BuildRequest([]byte(args), nil)
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		b, err := r.CanonicalArgs()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	same := [][]string{
		{`{"n":1,"obj":{"b":1,"a":[2.50]}}`, `{"obj":{"a":[2.5],"b":1.0},"n":1e0}`, `{ "n" : 10e-1 , "i": 7, "obj": {"a": [25e-1], "b": 1} }`},
		{`{"n":12345678901234567890}`, `{"n":1.2345678901234567890e19}`},
		{`{"list":[0.1, "x", null, true]}`, `{"list":[1e-1,"x",null,true]}`},
	}
	for _, group := range same {
		want := canon(group[0])
		for _, args := range group[1:] {
			if got := canon(args); got != want {
				t.Errorf("%s → %s, but %s → %s", group[0], want, args, got)
			}
		}
	}
	if got, want := canon(`{"obj":{"b":1,"a":2.5}}`), `{"i":7,"obj":{"a":2.5,"b":1}}`; got != want {
		t.Errorf("canonical = %s, want %s", got, want)
	}
	if canon(`{"n":1}`) == canon(`{"n":1.5}`) || canon(`{"list":[1,2]}`) == canon(`{"list":[2,1]}`) {
		t.Error("different arguments have the same canonical form")
	}
}

func TestIdempotencyKey(t *testing.T) {
	input := map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}, "ids": map[string]any{"type": "array"}}}
	tool, err := Compile(Spec{Name: "t", Upstream: "u", Method: "POST", Path: "/x", Input: input, IdempotencyKey: `args.id == nil ? nil : "order-" + args.id`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tool.BuildRequest([]byte(`{"id":"42"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("Idempotency-Key"); got != "order-42" {
		t.Errorf("Idempotency-Key = %q, want order-42", got)
	}
	r, err = tool.BuildRequest([]byte(`{}`), nil)
	if err != nil || r.Header.Get("Idempotency-Key") != "" {
		t.Errorf("nil key: header %q, err %v; want none", r.Header.Get("Idempotency-Key"), err)
	}
	for args, want := range map[string]string{
		`{"id":"a\nb"}`: "control character",
		`{"id":"` + strings.Repeat("k", 300) + `"}`: "1 to 255 characters",
	} {
		_, err := tool.BuildRequest([]byte(args), nil)
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), want) || ee.Field != "idempotency_key" {
			t.Errorf("%.30s: %v, want an EvalError on idempotency_key with %q", args, err, want)
		}
	}
	_, err = Compile(Spec{Name: "t", Upstream: "u", Method: "POST", Path: "/x", Headers: map[string]string{"idempotency-key": `"x"`}, IdempotencyKey: `"y"`})
	if err == nil || !strings.Contains(err.Error(), "headers.idempotency-key already sets the Idempotency-Key header") {
		t.Errorf("header and idempotency_key both set: %v", err)
	}
}

// FuzzCanonicalArgs checks that the canonical form is valid JSON and a fixed
// point: the canonical arguments of canonical arguments are the same bytes.
func FuzzCanonicalArgs(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1,"b":[1.50,"x",null]}`, `{"n":-0.0,"big":123456789012345678901234567890}`, `{"e":1e308,"t":1e-320,"u":"\u00e9"}`} {
		f.Add(seed)
	}
	tool, err := Compile(Spec{Name: "t", Upstream: "u", Path: "/x", Input: map[string]any{"type": "object", "additionalProperties": true}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, args string) {
		r, err := tool.BuildRequest([]byte(args), nil)
		if err != nil {
			return
		}
		c1, err := r.CanonicalArgs()
		if err != nil {
			t.Fatalf("CanonicalArgs(%s): %v", args, err)
		}
		if !json.Valid(c1) {
			t.Fatalf("CanonicalArgs(%s) = %s, not JSON", args, c1)
		}
		r2, err := tool.BuildRequest(c1, nil)
		if err != nil {
			t.Fatalf("the canonical form %s of %s is refused: %v", c1, args, err)
		}
		c2, err := r2.CanonicalArgs()
		if err != nil || string(c1) != string(c2) {
			t.Fatalf("not a fixed point: %s → %s → %s (%v)", args, c1, c2, err)
		}
	})
}

// checkCanonical fails when appendCanonical writes other bytes than
// json.Marshal of the canonical copy, for the arguments b decodes to (as
// decodeArgs accepts them: numbers within bounds).
func checkCanonical(t *testing.T, b []byte) {
	t.Helper()
	v, err := decodeExact(b)
	if err != nil || checkNumbers(v) != nil {
		return
	}
	v = normalizeNumbers(v)
	want, wantErr := json.Marshal(canonicalValue(v))
	got, gotErr := appendCanonical(nil, v)
	if (wantErr != nil) != (gotErr != nil) || string(got) != string(want) {
		t.Fatalf("canonical form of %s: %s (%v), want %s (%v)", b, got, gotErr, want, wantErr)
	}
}

func TestCanonicalEncoding(t *testing.T) {
	for _, s := range []string{
		`{"b":1,"a":[2.50,-0,1e300,12345678901234567890,0.1,-7],"c":{"z":null,"y":true,"x":false}}`,
		`{"s":"<a href=\"x\">&amp;</a>","t":"tab\t\u2028é😀","\u00e9":"k","":""}`,
		`{"bad":"` + "\xff" + `","big":1e-300,"n":123456789012345678901234567890}`,
		`[1,"x",[],{}]`, `"plain"`, `3.25`, `null`,
	} {
		checkCanonical(t, []byte(s))
	}
}

func FuzzCanonicalEncoding(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":[2.5,"<&>"],"c":{"d":null}}`))
	f.Add([]byte(`{"n":1e308,"m":-0.0000001,"s":"\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkCanonical(t, b)
	})
}
