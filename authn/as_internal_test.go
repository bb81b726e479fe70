package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "[::1]": true, "::1": true,
		"127.0.0.1.attacker.example": false, "127.attacker.example": false, "localhost.attacker.example": false,
		"10.0.0.1": false, "::ffff:127.0.0.1": true, "example.com": false, "": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.1.2.3": false, "::1": false, "fe80::1": false, "fc00::1": false, "fec0::1": false,
		"::ffff:169.254.169.254": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b:1::a9fe:a9fe": false,
		"2002:a9fe:a9fe::1": false, "2001:0:4136:e378::1": false, "::a9fe:a9fe": false, "100::1": false,
		"224.0.0.1": false, "255.255.255.255": false, "240.0.0.1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestGuardedTransportRefusesPrivate: the address check runs on the
// address dialled (after DNS), so a name resolving to loopback is refused
// too.
func TestGuardedTransportRefusesPrivate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the guarded transport reached a loopback server")
	}))
	defer srv.Close()
	c := &http.Client{Transport: guardedTransport(false)}
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: fetched", u)
			continue
		}
		if !strings.Contains(err.Error(), "not public") {
			t.Errorf("%s: %v, want an error saying the address is not public", u, err)
		}
	}
}
