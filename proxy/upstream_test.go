package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

func testUpstreamClient(t *testing.T, rawURL string) *upstreamClient {
	t.Helper()
	tr, err := newTracing("test")
	if err != nil {
		t.Fatal(err)
	}
	u := &configs.Upstream{Name: "api", URL: mustURL(t, rawURL), Timeout: 10 * time.Second, ConnectTimeout: 5 * time.Second,
		MaxConcurrent: 4, MaxResponseBytes: 1 << 20}
	c := newUpstreamClient(u, "api2mcp/test", slog.New(slog.DiscardHandler), tr)
	t.Cleanup(c.closeIdle)
	return c
}

// Redirects within the upstream's origin are followed as RFC 9110 and
// Fetch say: a POST meeting 301/302 and anything meeting 303 turn into a GET
// without the body, other methods and 307/308 repeat the method and body;
// at most five are followed.
func TestUpstreamRedirectsWithinOrigin(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, fmt.Sprintf("%s %s %q ct=%q key=%q", r.Method, r.URL.Path, body, r.Header.Get("Content-Type"), r.Header.Get("X-Key")))
		switch r.URL.Path {
		case "/see-other":
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		case "/temporary":
			http.Redirect(w, r, "/done", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "done", http.StatusMovedPermanently) // relative
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			fmt.Fprint(w, "done")
		}
	}))
	defer srv.Close()
	c := testUpstreamClient(t, srv.URL)
	c.cfg.Header = http.Header{"X-Key": {"k1"}}
	for _, tc := range []struct {
		method, path string
		want         []string
		wantErr      string
	}{
		{"POST", "/see-other", []string{`POST /see-other "{\"a\":1}" ct="application/json" key="k1"`, `GET /done "" ct="" key="k1"`}, ""},
		{"POST", "/temporary", []string{`POST /temporary "{\"a\":1}" ct="application/json" key="k1"`, `POST /done "{\"a\":1}" ct="application/json" key="k1"`}, ""},
		{"GET", "/moved", []string{`GET /moved "" ct="" key="k1"`, `GET /done "" ct="" key="k1"`}, ""},
		{"POST", "/moved", []string{`POST /moved "{\"a\":1}" ct="application/json" key="k1"`, `GET /done "" ct="" key="k1"`}, ""},
		{"PUT", "/moved", []string{`PUT /moved "{\"a\":1}" ct="application/json" key="k1"`, `PUT /done "{\"a\":1}" ct="application/json" key="k1"`}, ""},
		{"GET", "/loop", nil, "redirect to another origin (or one too many)"},
	} {
		seen = nil
		r := &mapping.Request{Method: tc.method, Path: tc.path}
		if tc.method == "POST" || tc.method == "PUT" {
			r.Body, r.ContentType = []byte(`{"a":1}`), "application/json"
		}
		resp, err := c.do(context.Background(), r, nil, nil)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %s: %v, want %q", tc.method, tc.path, err, tc.wantErr)
			}
			if len(seen) != maxRedirects+1 {
				t.Errorf("%s %s: %d requests, want %d", tc.method, tc.path, len(seen), maxRedirects+1)
			}
			continue
		}
		if err != nil || string(resp.body) != "done" {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if strings.Join(seen, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s %s: the upstream saw\n%s\nwant\n%s", tc.method, tc.path, strings.Join(seen, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// Credentials in the upstream's URL are sent as basic authentication, and
// not as part of the request line.
func TestUpstreamURLUserInfo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		fmt.Fprintf(w, "%v %s %s %s", ok, user, pw, r.RequestURI)
	}))
	defer srv.Close()
	c := testUpstreamClient(t, strings.Replace(srv.URL, "http://", "http://svc:s%40cret@", 1)+"/v1")
	resp, err := c.do(context.Background(), &mapping.Request{Method: "GET", Path: "/items", Query: "a=1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.body); got != "true svc s@cret /v1/items?a=1" {
		t.Errorf("upstream saw %q", got)
	}
}

// An upstream that answers before reading a large body (an early 401 or
// 413) is heard: the answer reaches the agent, not a broken pipe.
func TestUpstreamEarlyAnswerToLargeBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized) // the body is never read
	}))
	defer srv.Close()
	c := testUpstreamClient(t, srv.URL)
	c.cfg.MaxResponseBytes = 1 << 20
	for _, size := range []int{1 << 10, 256 << 10, 4 << 20} {
		resp, err := c.do(context.Background(), &mapping.Request{Method: "POST", Path: "/x", Body: []byte(strings.Repeat("x", size)), ContentType: "text/plain"}, nil, nil)
		if err != nil || resp.status != http.StatusUnauthorized {
			t.Errorf("%d-byte body: %v, want the upstream's 401", size, err)
		}
	}
}
