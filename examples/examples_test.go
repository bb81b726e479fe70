// Package examples holds runnable scenarios. These tests keep every example's
// mcp.yaml loading, and call every tool of the quickstart and mapping examples
// through the MCP server against the sample petstore API (served with
// httptest), checking what a user would see. The quickstart is also run end to
// end by quickstart/run.sh --smoke in CI.
package examples

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/examples/internal/petstore"
	"github.com/api2mcp/api2mcp/proxy"
)

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("*/mcp.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			cfg, err := configs.Load(f, &configs.Options{
				Environ:   func() []string { return nil },
				LookupEnv: exampleEnv,
				ReadFile:  exampleFiles,
			})
			if err != nil {
				t.Fatalf("%s does not load:\n%v", f, err)
			}
			if len(cfg.Tools) == 0 {
				t.Errorf("%s declares no tools", f)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("%s has warnings: %v", f, cfg.Warnings)
			}
		})
	}
}

// exampleEnv stands in for the environment examples refer to: every
// variable is set, and the authorization server's key is a valid one.
func exampleEnv(name string) (string, bool) {
	if name == "API2MCP_ENCRYPTION_KEY" {
		return "dGhpcnR5LXR3by1ieXRlcy1vZi1leGFtcGxlLWtleSE=", true // 32 bytes
	}
	return "example-secret-from-env", true
}

// exampleFiles reads files, and stands in for the mounted secrets
// (/run/secrets/NAME) examples refer to.
func exampleFiles(name string) ([]byte, error) {
	if secret, ok := strings.CutPrefix(name, "/run/secrets/"); ok {
		return []byte("example-secret-" + secret + "\n"), nil
	}
	return os.ReadFile(name)
}

func TestQuickstart(t *testing.T) {
	t.Run("find_pets", func(t *testing.T) {
		s, up := startExample(t, "quickstart")
		res := call(t, s, "find_pets", `{"status": "available"}`)
		wantQuery(t, up.last(t), url.Values{"status": {"available"}, "limit": {"20"}})
		wantStructured(t, res, `{"result": [
			{"id": 1, "name": "Rex", "status": "available", "tags": ["dog"], "born": "2019-04-12", "version": 1},
			{"id": 4, "name": "Bella", "status": "available", "tags": ["dog", "puppy"], "born": "2021-06-15", "version": 1},
			{"id": 5, "name": "Luna", "status": "available", "tags": ["cat"], "born": "2022-01-03", "version": 1}
		]}`)

		// An array argument repeats the parameter.
		res = call(t, s, "find_pets", `{"status": "available", "tags": ["cat", "bird"], "limit": 5}`)
		wantQuery(t, up.last(t), url.Values{"status": {"available"}, "tag": {"cat", "bird"}, "limit": {"5"}})
		wantStructured(t, res, `{"result": [
			{"id": 5, "name": "Luna", "status": "available", "tags": ["cat"], "born": "2022-01-03", "version": 1}
		]}`)
	})

	t.Run("get_pet", func(t *testing.T) {
		s, up := startExample(t, "quickstart")
		res := call(t, s, "get_pet", `{"id": 1}`)
		if got := up.last(t); got.Path != "/pets/1" || got.Header.Get("X-Api-Key") != petstoreKey {
			t.Errorf("upstream got %s with X-Api-Key %q, want /pets/1 with the key from the environment", got.Path, got.Header.Get("X-Api-Key"))
		}
		wantStructured(t, res, `{"id": 1, "name": "Rex", "status": "available", "tags": ["dog"], "born": "2019-04-12", "version": 1}`)

		res = call(t, s, "get_pet", `{"id": 99}`)
		wantError(t, res, `get_pet: upstream returned HTTP 404 Not Found: {"error":{"code":"pet_not_found","message":"pet 99 not found"}}`)

		res = call(t, s, "get_pet", `{"id": "two"}`)
		wantError(t, res, `get_pet: invalid arguments: /id: got string, want integer`)
	})

	t.Run("add_pet", func(t *testing.T) {
		s, up := startExample(t, "quickstart")
		res := call(t, s, "add_pet", `{"name": "Kitty", "tags": ["cat"]}`)
		got := up.last(t)
		if got.Method != http.MethodPost || got.Path != "/pets" {
			t.Errorf("upstream got %s %s, want POST /pets", got.Method, got.Path)
		}
		wantJSON(t, "the upstream body", got.Body, `{"name": "Kitty", "tags": ["cat"]}`) // status not given: left out
		wantStructured(t, res, `{"id": 7, "name": "Kitty", "status": "available", "tags": ["cat"], "version": 1}`)
	})
}

func TestMappingTools(t *testing.T) {
	s, _ := startExample(t, "mapping")
	raw, err := s.ListTools(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Tools []struct {
			Name         string          `json:"name"`
			Title        string          `json:"title"`
			Description  string          `json:"description"`
			OutputSchema json.RawMessage `json:"outputSchema"`
			Annotations  struct {
				ReadOnly    bool `json:"readOnlyHint"`
				Destructive bool `json:"destructiveHint"`
				Idempotent  bool `json:"idempotentHint"`
			} `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	type hints struct{ ReadOnly, Destructive, Idempotent bool }
	got := map[string]hints{}
	for _, tool := range list.Tools {
		got[tool.Name] = hints(tool.Annotations)
		if tool.Title == "" || tool.Description == "" {
			t.Errorf("%s has no title or description", tool.Name)
		}
		if (tool.OutputSchema != nil) != (tool.Name == "get_pet_card") {
			t.Errorf("%s: outputSchema %s; only get_pet_card declares one", tool.Name, tool.OutputSchema)
		}
	}
	read := hints{ReadOnly: true, Idempotent: true}
	want := map[string]hints{
		"search_pets":         read,
		"get_pet_card":        read,
		"update_pet":          {Destructive: true, Idempotent: true}, // PUT
		"register_pet":        {},                                    // POST
		"place_order":         {Idempotent: true},                    // POST, annotated: the Idempotency-Key makes retries safe
		"upload_pet_photo":    {},
		"get_pet_photo":       read,
		"get_pet_certificate": read,
		"get_pet_history":     read,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tools and their hints (-want +got):\n%s", diff)
	}
}

func TestMapping(t *testing.T) {
	t.Run("search_pets", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		// Every query style in one call.
		res := call(t, s, "search_pets", `{"status": ["available", "pending"], "ids": [1, 2, 4, 5, 6],
			"born_after": "2019-01-01", "sort_by": "born", "sort_order": "desc", "limit": 2}`)
		wantQuery(t, up.last(t), url.Values{
			"status":             {"available,pending"},               // comma
			"ids":                {"1|2|4|5|6"},                       // pipe
			"filter[born_after]": {"2019-01-01"},                      // deepObject, nil keys left out
			"limit":              {"2"},                               // explode: page's keys
			"offset":             {"0"},                               // explode: page's keys
			"sort":               {`{"field":"born","order":"desc"}`}, // json
		})
		wantStructured(t, res, `{"count": 2, "pets": [
			{"id": 5, "name": "Luna", "status": "available", "born": "2022-01-03"},
			{"id": 4, "name": "Bella", "status": "available", "born": "2021-06-15"}
		]}`)

		// Defaults: default() gives status=available, the schema limit and
		// offset; no sort is sent.
		res = call(t, s, "search_pets", `{"name_prefix": "b", "tags": ["dog", "puppy"]}`)
		wantQuery(t, up.last(t), url.Values{
			"status":       {"available"},
			"tags":         {"dog puppy"}, // space
			"filter[name]": {"b"},
			"limit":        {"10"},
			"offset":       {"0"},
		})
		rawQuery := up.last(t).RawQuery
		if !strings.Contains(rawQuery, "tags=dog%20puppy") {
			t.Errorf("query_style space sent %s, want tags=dog%%20puppy (as OpenAPI's spaceDelimited)", rawQuery)
		}
		wantStructured(t, res, `{"count": 1, "pets": [{"id": 4, "name": "Bella", "status": "available", "born": "2021-06-15"}]}`)

		// sort_by without sort_order: compact() leaves the order out of the JSON.
		call(t, s, "search_pets", `{"status": [], "sort_by": "name"}`)
		wantQuery(t, up.last(t), url.Values{"status": {"available"}, "sort": {`{"field":"name"}`}, "limit": {"10"}, "offset": {"0"}})

		// Every failing rule is reported, and nothing reaches the upstream.
		n := len(up.requests())
		res = call(t, s, "search_pets", `{"ids": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21],
			"born_after": "2022-01-01", "born_before": "2020-01-01", "sort_order": "asc"}`)
		wantError(t, res, "search_pets: invalid arguments:\n"+
			"- at most 20 ids at a time; search in several calls\n"+
			"- born_after must be an earlier day than born_before\n"+
			"- sort_order needs sort_by")
		if len(up.requests()) != n {
			t.Errorf("a call with invalid arguments reached the upstream")
		}
	})

	t.Run("get_pet_card", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		res := call(t, s, "get_pet_card", `{"id": 4}`)
		if got := up.last(t).Path; got != "/pets/4" {
			t.Errorf("upstream path %s, want /pets/4", got)
		}
		wantStructured(t, res, `{"id": 4, "name": "Bella", "status": "available", "tags": ["dog", "puppy"], "born": "2021-06-15", "version": 1}`)
		wantText(t, res, "Bella is available (dog, puppy), born 15 June 2021; version 1.")

		// A pet without tags or birth date: the text leaves them out, and the
		// result still matches output_schema.
		call(t, s, "register_pet", `{"name": "Nemo"}`)
		res = call(t, s, "get_pet_card", `{"id": 7}`)
		wantStructured(t, res, `{"id": 7, "name": "Nemo", "status": "available", "tags": [], "version": 1}`)
		wantText(t, res, "Nemo is available; version 1.")

		res = call(t, s, "get_pet_card", `{"id": 99}`)
		wantError(t, res, "get_pet_card: pet 99 not found (pet_not_found, HTTP 404)")
	})

	t.Run("update_pet", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		res := call(t, s, "update_pet", `{"id": 2, "version": 1, "reason": "adopted by the Smiths", "status": "sold", "tags": ["cat", "adopted"]}`)
		got := up.last(t)
		if got.Method != http.MethodPut || got.Path != "/pets/2" {
			t.Errorf("upstream got %s %s, want PUT /pets/2", got.Method, got.Path)
		}
		wantHeaders(t, got, map[string]string{"If-Match": `"1"`, "X-Change-Reason": "adopted by the Smiths", "Content-Type": "application/json"})
		wantJSON(t, "the upstream body", got.Body, `{"status": "sold", "tags": ["cat", "adopted"], "updated_by": "mcp-agent"}`)
		wantStructured(t, res, `{"id": 2, "name": "Tom", "status": "sold", "tags": ["cat", "adopted"], "born": "2020-08-01", "version": 2}`)

		// The reason header reached the pet's history.
		res = call(t, s, "get_pet_history", `{"id": 2, "event": "updated"}`)
		wantContains(t, res.text(), `"detail":"status, tags by mcp-agent: adopted by the Smiths"`)

		// A stale version: the upstream's 412 with its JSON error.
		res = call(t, s, "update_pet", `{"id": 2, "version": 1, "reason": "put back on sale", "status": "available"}`)
		wantError(t, res, `update_pet: upstream returned HTTP 412 Precondition Failed: {"error":{"code":"version_conflict","message":"pet 2 is at version 2, not 1; get it again and retry"}}`)
	})

	t.Run("register_pet", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		res := call(t, s, "register_pet", `{"name": "  Nibbles ", "tags": ["Small Pet", "hamsterWheel"], "born": "2024-02-29"}`)
		wantJSON(t, "the upstream body", up.last(t).Body, `{"name": "Nibbles", "status": "available", "tags": ["small-pet", "hamster-wheel"], "born": "2024-02-29"}`)
		wantStructured(t, res, `{"id": 7, "name": "Nibbles", "status": "available", "tags": ["small-pet", "hamster-wheel"], "born": "2024-02-29", "version": 1}`)
		wantText(t, res, "Registered Nibbles as pet 7.")

		// born not given: left out of the body; tags default to [].
		call(t, s, "register_pet", `{"name": "Kitty", "status": "pending"}`)
		wantJSON(t, "the upstream body", up.last(t).Body, `{"name": "Kitty", "status": "pending", "tags": []}`)
	})

	t.Run("place_order", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		args := `{"pet_id": 4, "customer": {"name": "Ada Lovelace", "email": "ada+pets@example.com", "city": "London"},
			"extras": ["collar", "leash"], "notify": ["email", "sms"], "idempotency_key": "order-7f3c2a"}`
		res := call(t, s, "place_order", args)
		got := up.last(t)
		if got.Method != http.MethodPost || got.Path != "/orders" {
			t.Errorf("upstream got %s %s, want POST /orders", got.Method, got.Path)
		}
		wantHeaders(t, got, map[string]string{"Idempotency-Key": "order-7f3c2a", "Content-Type": "application/x-www-form-urlencoded"})
		form, err := url.ParseQuery(string(got.Body))
		if err != nil {
			t.Fatalf("the upstream body is not a form: %v\n%s", err, got.Body)
		}
		// The array field is checked on its own below.
		extras := url.Values{}
		for k, v := range form {
			if k == "extras" || strings.HasPrefix(k, "extras[") {
				extras[k] = v
				delete(form, k)
			}
		}
		wantForm := url.Values{
			"pet_id":          {"4"},
			"customer[name]":  {"Ada Lovelace"}, // a nested object: brackets
			"customer[email]": {"ada+pets@example.com"},
			"customer[city]":  {"London"},
			"notify":          {"email,sms"}, // form_style comma
			"source":          {"mcp"},
		}
		if diff := cmp.Diff(wantForm, form); diff != "" {
			t.Errorf("the upstream form (-want +got):\n%s", diff)
		}
		if want := (url.Values{"extras": {"collar", "leash"}}); !cmp.Equal(want, extras) {
			t.Errorf("the array field extras was sent as %v, want %v (a repeated field)", extras, want)
		}
		const placed = "Order ord-1001 placed: Bella for Ada Lovelace. Track it at https://petstore.example.com/orders/ord-1001?email=ada%2Bpets%40example.com"
		wantText(t, res, placed)
		wantStructured(t, res, `{"id": "ord-1001", "pet": {"id": 4, "name": "Bella"},
			"customer": {"name": "Ada Lovelace", "email": "ada+pets@example.com", "city": "London"},
			"extras": ["collar", "leash"], "notify": ["email", "sms"], "source": "mcp", "status": "placed"}`)

		// A retry with the same key is the same order; notify defaults to
		// email and extras are left out.
		res = call(t, s, "place_order", `{"pet_id": 4, "customer": {"name": "Ada Lovelace", "email": "ada+pets@example.com"}, "idempotency_key": "order-7f3c2a"}`)
		wantText(t, res, placed)
		form, _ = url.ParseQuery(string(up.last(t).Body))
		if diff := cmp.Diff(url.Values{"pet_id": {"4"}, "customer[name]": {"Ada Lovelace"}, "customer[email]": {"ada+pets@example.com"}, "notify": {"email"}, "source": {"mcp"}}, form); diff != "" {
			t.Errorf("the retry's form (-want +got):\n%s", diff)
		}

		// Another order of the same pet: a 409 from the upstream.
		res = call(t, s, "place_order", `{"pet_id": 4, "customer": {"name": "Bob", "email": "bob@example.com"}, "idempotency_key": "order-91d0e4"}`)
		wantError(t, res, `place_order: upstream returned HTTP 409 Conflict: {"error":{"code":"pet_unavailable","message":"pet 4 (Bella) is pending, not available"}}`)

		res = call(t, s, "place_order", `{"pet_id": 1, "customer": {"name": "Bob", "email": "not an email"}, "idempotency_key": "order-91d0e4"}`)
		wantError(t, res, `place_order: invalid arguments: /customer/email: 'not an email' is not valid email: missing @`)
	})

	t.Run("upload_pet_photo and get_pet_photo", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		photo := testPNG(t)
		args := fmt.Sprintf(`{"id": 1, "content": %q, "filename": "rex-on-the-sofa.png", "content_type": "image/png", "caption": "Rex on the sofa", "tags": ["sofa", "asleep"]}`,
			base64.StdEncoding.EncodeToString(photo))
		res := call(t, s, "upload_pet_photo", args)
		got := up.last(t)
		if got.Method != http.MethodPost || got.Path != "/pets/1/photos" {
			t.Errorf("upstream got %s %s, want POST /pets/1/photos", got.Method, got.Path)
		}
		wantParts := []part{
			{Name: "caption", Data: []byte("Rex on the sofa")},
			{Name: "photo", Filename: "rex-on-the-sofa.png", ContentType: "image/png", Data: photo},
			{Name: "tags", Data: []byte("sofa")},
			{Name: "tags", Data: []byte("asleep")},
		}
		if diff := cmp.Diff(wantParts, multipartParts(t, got)); diff != "" {
			t.Errorf("the upstream's multipart body (-want +got):\n%s", diff)
		}
		wantStructured(t, res, fmt.Sprintf(`{"id": 1, "pet_id": 1, "filename": "rex-on-the-sofa.png", "content_type": "image/png", "bytes": %d, "caption": "Rex on the sofa", "tags": ["sofa", "asleep"]}`, len(photo)))

		// The upload is now the pet's photo, as image content.
		res = call(t, s, "get_pet_photo", `{"id": 1}`)
		img := wantImage(t, res)
		if !bytes.Equal(img, photo) {
			t.Errorf("get_pet_photo gave %d bytes, not the %d uploaded", len(img), len(photo))
		}
		// A pet without photos: the drawn default, still a PNG.
		wantImage(t, call(t, s, "get_pet_photo", `{"id": 3}`))

		// Data that is not the image it claims to be: the upstream's 415.
		res = call(t, s, "upload_pet_photo", `{"id": 1, "content": "aGVsbG8=", "filename": "hello.png", "content_type": "image/png"}`)
		wantError(t, res, `upload_pet_photo: upstream returned HTTP 415 Unsupported Media Type: {"error":{"code":"unsupported_media_type","message":"a photo is a PNG or JPEG image; this one is declared image/png and looks like text/plain; charset=utf-8"}}`)
		// Data that is not base64: fromBase64 fails, naming the field.
		res = call(t, s, "upload_pet_photo", `{"id": 1, "content": "not base64!", "filename": "x.png", "content_type": "image/png"}`)
		if !res.IsError {
			t.Fatalf("want an error result, got %s", res.text())
		}
		wantContains(t, res.text(), "upload_pet_photo: evaluating multipart.photo: illegal base64 data")
	})

	t.Run("get_pet_certificate", func(t *testing.T) {
		s, _ := startExample(t, "mapping")
		res := call(t, s, "get_pet_certificate", `{"id": 1}`)
		if res.IsError || len(res.Content) != 1 || res.Content[0].Type != "resource" || res.Content[0].Resource == nil {
			t.Fatalf("want one embedded resource, got %+v", res.Content)
		}
		r := res.Content[0].Resource
		if r.MIMEType != "application/pdf" || r.URI != "api2mcp:result/get_pet_certificate" {
			t.Errorf("resource %s (%s), want api2mcp:result/get_pet_certificate (application/pdf)", r.URI, r.MIMEType)
		}
		if !bytes.HasPrefix(r.Blob, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(r.Blob, []byte("%%EOF\n")) {
			t.Errorf("the blob is not a PDF:\n%.200s", r.Blob)
		}
		wantContains(t, string(r.Blob), "(Pet 1: Rex) Tj")
	})

	t.Run("get_pet_history", func(t *testing.T) {
		s, up := startExample(t, "mapping")
		// The whole history is longer than max_result_bytes: cut at an
		// element boundary, with a note.
		res := call(t, s, "get_pet_history", `{"id": 1}`)
		if res.IsError {
			t.Fatalf("error result: %s", res.text())
		}
		m := regexp.MustCompile(`\n\[truncated: showing (\d+) of (\d+) items; the full result is \d+ bytes, over max_result_bytes \(4096\); narrow the request to see the rest\]$`).
			FindStringSubmatch(res.text())
		if m == nil {
			t.Fatalf("no truncation note at the end of:\n…%s", tail(res.text(), 300))
		}
		shown, _ := strconv.Atoi(m[1])
		total, _ := strconv.Atoi(m[2])
		var structured struct{ Result []map[string]string }
		if err := json.Unmarshal(res.StructuredContent, &structured); err != nil {
			t.Fatal(err)
		}
		if shown >= total || len(structured.Result) != shown || len(res.StructuredContent) > 4096 {
			t.Errorf("showing %d of %d, %d in structuredContent (%d bytes); want a cut list within 4096 bytes",
				shown, total, len(structured.Result), len(res.StructuredContent))
		}
		if diff := cmp.Diff(map[string]string{"at": "2019-04-12T09:00:00Z", "event": "weighed", "detail": "0.4 kg"}, structured.Result[0]); diff != "" {
			t.Errorf("first entry (-want +got):\n%s", diff)
		}

		// Narrowed: dates become unix seconds, the kind snake_case; no cut.
		res = call(t, s, "get_pet_history", `{"id": 1, "since": "2024-01-01", "until": "2024-03-01", "event": "Vet Checkup"}`)
		wantQuery(t, up.last(t), url.Values{"since": {"1704067200"}, "until": {"1709251200"}, "event": {"vet_checkup"}})
		wantStructured(t, res, `{"result": [
			{"at": "2024-01-26T09:00:00Z", "event": "vet_checkup", "detail": "healthy"},
			{"at": "2024-02-23T09:00:00Z", "event": "vet_checkup", "detail": "healthy"}
		]}`)
		if strings.Contains(res.text(), "truncated") {
			t.Errorf("a short result was cut: %s", res.text())
		}
	})
}

// petstoreKey is the API key the tests give the petstore and api2mcp (as
// PETSTORE_API_KEY). No result may show it.
const petstoreKey = "petstore-test-key-3b9f1c"

// exampleUpstream is the petstore URL written in the examples' mcp.yaml; the
// tests replace it with the httptest server's.
const exampleUpstream = "http://127.0.0.1:8081"

// upstreamRequest is a request as the petstore received it.
type upstreamRequest struct {
	Method string
	Path   string
	Query  url.Values
	// RawQuery is the query as sent, for checking its encoding.
	RawQuery string
	Header   http.Header
	Body     []byte
}

// upstreamLog records the requests the petstore receives.
type upstreamLog struct {
	mu   sync.Mutex
	reqs []upstreamRequest
}

func (l *upstreamLog) requests() []upstreamRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]upstreamRequest(nil), l.reqs...)
}

func (l *upstreamLog) last(t *testing.T) upstreamRequest {
	t.Helper()
	reqs := l.requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return reqs[len(reqs)-1]
}

// startExample serves a fresh petstore on 127.0.0.1 and builds the MCP
// server of dir/mcp.yaml pointed at it.
func startExample(t *testing.T, dir string) (*proxy.Server, *upstreamLog) {
	t.Helper()
	log := &upstreamLog{}
	api := petstore.New(petstoreKey)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		log.mu.Lock()
		log.reqs = append(log.reqs, upstreamRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		log.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)

	cfg, err := configs.Load(filepath.Join(dir, "mcp.yaml"), &configs.Options{
		Environ: func() []string { return nil },
		LookupEnv: func(name string) (string, bool) {
			if name == "PETSTORE_API_KEY" {
				return petstoreKey, true
			}
			return "", false
		},
		ReadFile: func(name string) ([]byte, error) {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			if !bytes.Contains(b, []byte(exampleUpstream)) {
				return nil, fmt.Errorf("%s does not use the petstore at %s", name, exampleUpstream)
			}
			return bytes.ReplaceAll(b, []byte(exampleUpstream), []byte(up.URL)), nil
		},
	})
	if err != nil {
		t.Fatalf("loading %s/mcp.yaml:\n%v", dir, err)
	}
	s, err := proxy.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, log
}

// toolResult is a tools/call result as a client decodes it.
type toolResult struct {
	Content []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		MIMEType string `json:"mimeType"`
		Data     []byte `json:"data"` // base64 in JSON
		Resource *struct {
			URI      string `json:"uri"`
			MIMEType string `json:"mimeType"`
			Blob     []byte `json:"blob"`
		} `json:"resource"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

// text joins the text content of the result.
func (r toolResult) text() string {
	var parts []string
	for _, c := range r.Content {
		if c.Type == "text" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// call makes one tools/call, as an MCP client would.
func call(t *testing.T, s *proxy.Server, tool, args string) toolResult {
	t.Helper()
	raw, isError, err := s.CallTool(t.Context(), tool, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	if bytes.Contains(raw, []byte(petstoreKey)) {
		t.Errorf("%s: the API key reached the result: %s", tool, raw)
	}
	var res toolResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: decoding the result: %v\n%s", tool, err, raw)
	}
	if res.IsError != isError {
		t.Errorf("%s: CallTool says isError=%v, the result %v", tool, isError, res.IsError)
	}
	return res
}

func wantStructured(t *testing.T, res toolResult, want string) {
	t.Helper()
	if res.IsError {
		t.Fatalf("want a result, got an error: %s", res.text())
	}
	wantJSON(t, "structuredContent", res.StructuredContent, want)
}

func wantText(t *testing.T, res toolResult, want string) {
	t.Helper()
	if res.IsError {
		t.Fatalf("want a result, got an error: %s", res.text())
	}
	if diff := cmp.Diff(want, res.text()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

func wantError(t *testing.T, res toolResult, want string) {
	t.Helper()
	if !res.IsError {
		t.Errorf("want an error result, got: %s", res.text())
	}
	if diff := cmp.Diff(want, res.text()); diff != "" {
		t.Errorf("error text (-want +got):\n%s", diff)
	}
}

func wantContains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("want %q in:\n%s", want, got)
	}
}

// wantJSON compares JSON documents by value.
func wantJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test: %v\n%s", err, want)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func wantQuery(t *testing.T, got upstreamRequest, want url.Values) {
	t.Helper()
	if diff := cmp.Diff(want, got.Query); diff != "" {
		t.Errorf("upstream query of %s %s (-want +got):\n%s", got.Method, got.Path, diff)
	}
}

func wantHeaders(t *testing.T, got upstreamRequest, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g := got.Header.Get(k); g != v {
			t.Errorf("upstream header %s: %q, want %q", k, g, v)
		}
	}
}

// wantImage checks that the result is one PNG image and returns its bytes.
func wantImage(t *testing.T, res toolResult) []byte {
	t.Helper()
	if res.IsError || len(res.Content) != 1 || res.Content[0].Type != "image" {
		t.Fatalf("want one image, got %+v", res.Content)
	}
	c := res.Content[0]
	if c.MIMEType != "image/png" {
		t.Errorf("image mimeType %q, want image/png", c.MIMEType)
	}
	if _, err := png.Decode(bytes.NewReader(c.Data)); err != nil {
		t.Errorf("the image data is not a PNG: %v", err)
	}
	return c.Data
}

// part is one part of a multipart body.
type part struct {
	Name, Filename, ContentType string
	Data                        []byte
}

func multipartParts(t *testing.T, r upstreamRequest) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("upstream Content-Type %q, want multipart/form-data", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the multipart body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, part{Name: p.FormName(), Filename: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data})
	}
}

// testPNG is a small photo to upload.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	for x := range 4 {
		img.Set(x, 1, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tail(s string, n int) string {
	return s[max(0, len(s)-n):]
}

func TestOpenAPITools(t *testing.T) {
	s, up := startExample(t, "openapi")
	res := call(t, s, "find_pets", `{"status": ["available", "pending"], "ids": [1, 4, 5], "tags": ["dog"], "filter": {"name": "b"}, "sort": {"field": "name", "order": "desc"}, "limit": 10}`)
	got := up.last(t)
	wantQuery(t, got, url.Values{"status": {"available,pending"}, "ids": {"1|4|5"}, "tags": {"dog"}, "filter[name]": {"b"}, "sort": {`{"field":"name","order":"desc"}`}, "limit": {"10"}})
	if got.Header.Get("X-Api-Key") != petstoreKey {
		t.Errorf("X-Api-Key = %q, want the api_key credential", got.Header.Get("X-Api-Key"))
	}
	wantStructured(t, res, `{"result": [
		{"id": 4, "name": "Bella", "status": "available", "tags": ["dog", "puppy"], "born": "2021-06-15", "version": 1}
	]}`)

	res = call(t, s, "get_pet", `{"id": 99}`)
	wantError(t, res, `get_pet: upstream returned HTTP 404 Not Found (No pet has this id.): {"error":{"code":"pet_not_found","message":"pet 99 not found"}}`)

	res = call(t, s, "addPet", `{"name": "Kitty", "tags": ["cat"], "born": "2024-02-29"}`)
	got = up.last(t)
	wantJSON(t, "the upstream body", got.Body, `{"name": "Kitty", "tags": ["cat"], "born": "2024-02-29"}`)
	wantStructured(t, res, `{"id": 7, "name": "Kitty", "status": "available", "tags": ["cat"], "born": "2024-02-29", "version": 1}`)

	res = call(t, s, "addPet", `{"name": "Kitty", "id": 3}`)
	wantError(t, res, `addPet: invalid arguments: /id: not allowed (no such argument)`)
}
