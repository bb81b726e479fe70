package proxy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// decodeCallStd is the fast path's former decoder, the reference parseCall
// must agree with: encoding/json into the envelope's struct with unknown
// fields refused, one value, and the fast path's checks.
func decodeCallStd(body []byte) (callEnvelope, bool) {
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if !json.Valid(body) || d.Decode(&msg) != nil || d.More() || msg.JSONRPC != "2.0" || msg.Method != "tools/call" || !plainID(msg.ID) {
		return callEnvelope{}, false
	}
	return callEnvelope{id: msg.ID, name: msg.Params.Name, arguments: msg.Params.Arguments}, true
}

// checkAgreement fails when parseCall accepts body and encoding/json does
// not, or reads other values.
func checkAgreement(t *testing.T, body []byte) (callEnvelope, bool) {
	t.Helper()
	got, ok := parseCall(body)
	if !ok {
		return got, false
	}
	want, wantOK := decodeCallStd(body)
	if !wantOK {
		t.Fatalf("parseCall accepted %q, which encoding/json refuses", body)
	}
	if !bytes.Equal(got.id, want.id) || got.name != want.name || !bytes.Equal(got.arguments, want.arguments) ||
		(got.arguments == nil) != (want.arguments == nil) {
		t.Fatalf("parseCall(%q) = id %q name %q arguments %q; encoding/json read id %q name %q arguments %q",
			body, got.id, got.name, got.arguments, want.id, want.name, want.arguments)
	}
	return got, true
}

func TestParseCall(t *testing.T) {
	accepted := []struct {
		body string
		want callEnvelope
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`,
			callEnvelope{id: []byte(`1`), name: "get_pet", arguments: []byte(`{"id":1}`)}},
		{` { "params" : { "arguments" : [ 1 , "x\"\u00e9" , null , true , -0.5e+3 ] , "name" : "a.b-c" } , "method" : "tools/call" , "id" : "a-1" , "jsonrpc" : "2.0" } `,
			callEnvelope{id: []byte(`"a-1"`), name: "a.b-c", arguments: []byte(`[ 1 , "x\"\u00e9" , null , true , -0.5e+3 ]`)}},
		{"{\"jsonrpc\":\"2.0\",\n\t\"id\":-12.5E-1,\r\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}",
			callEnvelope{id: []byte(`-12.5E-1`), name: "t"}},
		{`{"jsonrpc":"2.0","id":"\u0041","method":"tools/call","params":{"name":"t","arguments":null}}`,
			callEnvelope{id: []byte(`"\u0041"`), name: "t", arguments: []byte(`null`)}},
		{`{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"t","arguments":{"a":{"b":[{},[]]},"c":"é"}}}`,
			callEnvelope{id: []byte(`0`), name: "t", arguments: []byte(`{"a":{"b":[{},[]]},"c":"é"}`)}},
	}
	for _, tt := range accepted {
		got, ok := checkAgreement(t, []byte(tt.body))
		if !ok {
			t.Errorf("parseCall(%s) refused a plain tools/call", tt.body)
			continue
		}
		if !bytes.Equal(got.id, tt.want.id) || got.name != tt.want.name || !bytes.Equal(got.arguments, tt.want.arguments) {
			t.Errorf("parseCall(%s) = %q %q %q, want %q %q %q", tt.body, got.id, got.name, got.arguments, tt.want.id, tt.want.name, tt.want.arguments)
		}
	}
	// Refused: left to the SDK, which answers them (or reads them in its
	// own way).
	for _, body := range []string{
		``,
		`[]`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}]`,
		`{}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}}`,                   // notification
		`{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"t"}}`,         // null id
		`{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{"name":"t"}}`,           // object id
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"t"}}`,            // other method
		`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,                                  // no params
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,                    // null params
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`,        // no name
		`{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"t"}}`,            // version
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{}}}`, // _meta
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"},"x":1}`,      // extension
		`{"JSONRPC":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`,            // other case
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"t"}}`,            // other case
		`{"json\u0072pc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`,       // escaped name
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"t"}}`,           // escaped value
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t\u00e9"}}`,      // escaped name
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"té"}}`,           // non-ASCII
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"t"}}`,     // repeated
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","name":"u"}}`, // repeated
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":1,"arguments":2}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}} {}`,                           // two values
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}}`,                             // trailing
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":01}}}`,         // bad number
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1,}}}`,         // trailing comma
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"\x"}}`,             // bad escape
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":tru}}`,              // bad literal
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"` + "\x01" + `"}}`, // control
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":` + strings.Repeat("[", maxEnvelopeDepth+1) + strings.Repeat("]", maxEnvelopeDepth+1) + `}}`,
	} {
		if _, ok := checkAgreement(t, []byte(body)); ok {
			t.Errorf("parseCall(%.80s) accepted it; the SDK must answer it", body)
		}
	}
}

// FuzzParseCall checks that parseCall never accepts what encoding/json
// (the SDK's decoder and the fast path's former one) would refuse or read
// differently.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`,
		` { "params" : { "arguments" : [ 1 , "x\"\u00e9" , null , true , -0.5e+3 ] , "name" : "a" } , "method" : "tools/call" , "id" : "a-1" , "jsonrpc" : "2.0" } `,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"t","arguments":null}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":1}}}`,
		`{"JSONRPC":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAgreement(t, body)
	})
}
