package configs

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const petSpec = `
openapi: 3.0.3
info: { title: Pets, version: "1" }
paths:
  /pets/{id}:
    get:
      operationId: getPetById
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "200": { description: ok } }
    put:
      operationId: updatePet
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      requestBody: { content: { text/plain: { schema: { type: string } } } }
      responses: { "200": { description: ok } }
    trace:
      operationId: tracePet
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "200": { description: ok } }
  /pets:
    get:
      operationId: listPets
      tags: [pet]
      responses: { "200": { description: ok } }
`

func TestLoadOpenAPI(t *testing.T) {
	cfg, err := load(t, validUpstreams+validTools+`
openapi:
  - spec: specs/pets.yaml
    upstream: api
    exclude: ["GET /pets"]
    overrides:
      getPetById: { name: get_pet_by_id, description: One pet. }
`, nil, map[string]string{"specs/pets.yaml": petSpec})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range cfg.Tools {
		names = append(names, tool.Name())
	}
	if diff := cmp.Diff([]string{"get_pet", "get_pet_by_id", "updatePet"}, names); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	wantWarnings := []string{`openapi[0]: TRACE /pets/{id} skipped: TRACE is not supported`}
	if diff := cmp.Diff(wantWarnings, cfg.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestLoadOpenAPIErrors(t *testing.T) {
	files := map[string]string{"pets.yaml": petSpec, "not-openapi.yaml": "hello: world\n"}
	tests := map[string]struct {
		src  string
		want []string
	}{
		"spec and upstream missing": {
			src:  validUpstreams + "openapi:\n  - include: [x]\n",
			want: []string{`openapi[0].upstream: required`, `openapi[0].spec: required: a file path or an http(s) URL`},
		},
		"unknown upstream": {
			src:  validUpstreams + "openapi:\n  - { spec: pets.yaml, upstream: apii }\n",
			want: []string{`openapi[0].upstream: "apii" is not in upstreams (have: api)`},
		},
		"unreadable spec": {
			src:  validUpstreams + "openapi:\n  - { spec: nope.yaml, upstream: api }\n",
			want: []string{`openapi[0].spec: reading spec: open nope.yaml: file does not exist`},
		},
		"not an OpenAPI document": {
			src:  validUpstreams + "openapi:\n  - { spec: not-openapi.yaml, upstream: api }\n",
			want: []string{`openapi[0].spec: not an OpenAPI document: no openapi or swagger field`},
		},
		"bad pattern": {
			src:  validUpstreams + "openapi:\n  - { spec: pets.yaml, upstream: api, include: [\"GET pets\"] }\n",
			want: []string{`openapi[0].spec: include[0]: "GET pets": want "METHOD /path"`},
		},
		"name taken by a declared tool": {
			src: validUpstreams + validTools + `
openapi:
  - spec: pets.yaml
    upstream: api
    include: [getPetById]
    overrides: { getPetById: { name: get_pet } }
`,
			want: []string{`openapi[0] "get_pet" (GET /pets/{id}): name: already used by tools[0] (rename it in overrides)`},
		},
		"override that does not compile": {
			src: validUpstreams + `
openapi:
  - spec: pets.yaml
    upstream: api
    include: [getPetById]
    overrides:
      getPetById: { validate: [{ rule: "args.idd > 0", message: positive }] }
`,
			want: []string{`openapi[0] "getPetById" (GET /pets/{id}): validate[0].rule: unknown argument "idd" (not in input.properties) (line 1, column 6)`},
		},
		"unknown discovery mode": {
			src:  validUpstreams + "openapi:\n  - { spec: pets.yaml, upstream: api, discovery: lazy }\n",
			want: []string{`openapi[0].discovery: "lazy" is not static or dynamic`},
		},
		"dynamic discovery tool named like a declared tool": {
			src:  validUpstreams + "tools:\n  - { name: api_search, upstream: api }\nopenapi:\n  - { spec: pets.yaml, upstream: api, discovery: dynamic }\n",
			want: []string{`openapi[0].discovery: tool api_search is already declared by tools[0]`},
		},
		"unknown override key": {
			src:  validUpstreams + "openapi:\n  - spec: pets.yaml\n    upstream: api\n    overrides: { getPetById: { nmae: x } }\n",
			want: []string{`openapi[0].overrides.getPetById.nmae: unknown key`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tt.src, nil, files)
			got := problems(err)
			// Expression errors add a snippet; compare the first lines.
			if len(got) > len(tt.want) {
				got = got[:len(tt.want)]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nfull error: %v", diff, err)
			}
		})
	}
}

func TestLoadOpenAPIFromURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pets.yaml" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(petSpec))
	}))
	defer srv.Close()
	src := validUpstreams + "openapi:\n  - { spec: '" + srv.URL + "/pets.yaml?token=hunter2hunter2', upstream: api, include: [getPetById] }\n"
	o := loadOptions("mcp.yaml", src, nil, nil)
	o.HTTPClient = srv.Client()
	cfg, err := Load("mcp.yaml", o)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tools) != 1 || cfg.Tools[0].Name() != "getPetById" {
		t.Errorf("tools = %v, want getPetById", cfg.Tools)
	}

	src = validUpstreams + "openapi:\n  - { spec: '" + srv.URL + "/missing.yaml?token=hunter2hunter2', upstream: api }\n"
	o = loadOptions("mcp.yaml", src, nil, nil)
	o.HTTPClient = srv.Client()
	_, err = Load("mcp.yaml", o)
	if err == nil || !strings.Contains(err.Error(), "status 404") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v, want a 404 that does not quote the URL's query", err)
	}
}

func TestLoadOpenAPICredentialWarnings(t *testing.T) {
	spec := `
openapi: 3.0.3
info: { title: Keys, version: "1" }
components:
  securitySchemes:
    key: { type: apiKey, in: header, name: X-Key }
    token: { type: http, scheme: bearer }
paths:
  /a:
    get:
      operationId: a
      security: [{ token: [] }]
      responses: { "200": { description: ok } }
`
	cfg, err := load(t, `
upstreams:
  api:
    url: http://api.internal
    credentials:
      kye: secret-value-1
openapi:
  - { spec: keys.yaml, upstream: api }
`, nil, map[string]string{"keys.yaml": spec})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`openapi[0] "a" (GET /a): sends no credentials: its operation needs security scheme token, and upstreams.api.credentials has none of them`,
		`upstreams.api.credentials.kye: names no security scheme an imported operation of this upstream requires`,
	}
	if diff := cmp.Diff(want, cfg.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if cfg.Credentials["a"] != nil {
		t.Errorf("tool a has a credential, want none")
	}
}
