package authntest

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser is a scripted user agent for logins through the built-in
// authorization server: a cookie jar, redirects followed until one leaves
// for the app's redirect URI (which it does not follow).
type Browser struct {
	tb testing.TB
	// Client is the user agent; its CheckRedirect stops at the app.
	Client *http.Client
}

// NewBrowser returns a browser that stops at redirects whose URL starts
// with appPrefix.
func NewBrowser(tb testing.TB, appPrefix string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{tb: tb, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), appPrefix) {
				return http.ErrUseLastResponse
			}
			return nil
		}}}
}

// Step is where a browser request ended.
type Step struct {
	Status int
	// Location is a redirect the browser did not follow (to the app).
	Location *url.URL
	Body     string
	Header   http.Header
}

// Get loads u.
func (b *Browser) Get(u string) Step {
	b.tb.Helper()
	resp, err := b.Client.Get(u)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.read(resp)
}

// Post submits a form to u.
func (b *Browser) Post(u string, form url.Values) Step {
	b.tb.Helper()
	resp, err := b.Client.PostForm(u, form)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.read(resp)
}

func (b *Browser) read(resp *http.Response) Step {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s := Step{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil {
			b.tb.Fatalf("bad Location %q", loc)
		}
		s.Location = u
	}
	return s
}

var consentIDRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// ConsentID reads the consent form's id from a consent page.
func ConsentID(tb testing.TB, s Step) string {
	tb.Helper()
	m := consentIDRE.FindStringSubmatch(s.Body)
	if s.Status != http.StatusOK || m == nil {
		tb.Fatalf("want the consent page, got HTTP %d: %.300s", s.Status, s.Body)
	}
	return m[1]
}

// Approve loads an authorization URL (the provider logs the user in), then
// approves on the consent page, and returns the redirect to the app.
func (b *Browser) Approve(authorizeURL string) *url.URL {
	b.tb.Helper()
	page := b.Get(authorizeURL)
	id := ConsentID(b.tb, page)
	consent, err := url.Parse(authorizeURL)
	if err != nil {
		b.tb.Fatal(err)
	}
	consent.Path = strings.TrimSuffix(consent.Path, "/authorize") + "/consent"
	consent.RawQuery = ""
	done := b.Post(consent.String(), url.Values{"consent": {id}, "action": {"approve"}})
	if done.Status != http.StatusSeeOther || done.Location == nil {
		b.tb.Fatalf("consent: want 303 to the app, got %d %.300s", done.Status, done.Body)
	}
	return done.Location
}

// PKCE returns a code verifier made from seed and its S256 challenge.
func PKCE(seed string) (verifier, challenge string) {
	verifier = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat(seed, 60)))[:64]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}
