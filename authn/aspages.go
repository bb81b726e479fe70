package authn

import (
	"bytes"
	"html/template"
	"net/http"
)

// The pages a user sees: server-rendered, no script, no external resource,
// not framable.

var pageTemplates = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:3em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}.box{border:1px solid #ccc;border-radius:8px;padding:1em 1.5em}
dt{font-weight:600;margin-top:.6em}dd{margin:0}code{background:#f4f4f4;padding:0 .2em}
.warn{color:#8a4b00}button{font-size:1em;padding:.5em 1.4em;margin-right:.6em;border-radius:6px;border:1px solid #888;cursor:pointer}
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}
</style></head><body>
{{if .Consent}}{{with .Consent}}
<h1>Allow access to {{.Server}}?</h1>
<div class="box">
<p>An application asks to use the tools of <strong>{{.Server}}</strong> as you.</p>
<dl>
<dt>Application</dt><dd>{{if .Client}}{{.Client}} <span class="warn">(name given by the application itself)</span>{{else}}unnamed{{end}}</dd>
<dt>Client id</dt><dd><code>{{.ClientID}}</code></dd>
<dt>Access goes to</dt><dd><strong>{{.RedirectHost}}</strong></dd>
<dt>Signed in as</dt><dd>{{if .User.Login}}{{.User.Login}}{{else if .User.Email}}{{.User.Email}}{{else}}{{.User.ID}}{{end}} ({{.User.Provider}})</dd>
{{if .Scopes}}<dt>Permissions</dt><dd>{{range $i, $s := .Scopes}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</dd>{{end}}
</dl>
<p>Only allow it if you started this from an application you trust, and <strong>{{.RedirectHost}}</strong> is where you expect it to go.</p>
<form method="post" action="consent">
<input type="hidden" name="consent" value="{{.ID}}">
<button class="primary" type="submit" name="action" value="approve">Allow</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
</div>
{{end}}{{else}}
<h1>{{.Title}}</h1>
<div class="box"><p>{{.Message}}</p></div>
{{end}}
</body></html>
`))

// consentView is what the consent page shows.
type consentView struct {
	ID           string
	Client       string
	ClientID     string
	RedirectHost string
	User         User
	Scopes       []string
	Server       string
}

type pageData struct {
	Title   string
	Message string
	Consent *consentView
}

func writePage(w http.ResponseWriter, status int, d pageData) {
	var buf bytes.Buffer
	if err := pageTemplates.Execute(&buf, d); err != nil {
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	noStore(w)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage answers a request that cannot go back to a client: the user
// reads it; nothing redirects.
func errorPage(w http.ResponseWriter, status int, title, msg string) {
	writePage(w, status, pageData{Title: title, Message: msg})
}

func consentPage(w http.ResponseWriter, v consentView) {
	writePage(w, http.StatusOK, pageData{Title: "Allow access?", Consent: &v})
}
