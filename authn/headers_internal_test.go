package authn

import (
	"net/http"
	"testing"
)

// The middleware deletes identityHeaders from the header map as they are:
// each must be in canonical form.
func TestIdentityHeadersAreCanonical(t *testing.T) {
	for _, h := range identityHeaders {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("identity header %q is not canonical (%q)", h, c)
		}
	}
}
