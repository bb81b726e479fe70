// Command upstream serves the conformance fixtures (examples/internal/fixtures)
// on loopback, as the upstream of examples/conformance/mcp.yaml.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/api2mcp/api2mcp/examples/internal/fixtures"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "listen address")
	flag.Parse()
	log.Printf("conformance fixtures on http://%s", *listen)
	log.Fatal(http.ListenAndServe(*listen, fixtures.New()))
}
