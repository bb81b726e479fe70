// Command petstore serves the sample REST API of the examples (package
// examples/internal/petstore): the upstream that api2mcp turns into tools. It
// needs no network beyond loopback. Requests must carry the key in
// $PETSTORE_API_KEY as X-Api-Key (any request is accepted when it is unset).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/api2mcp/api2mcp/examples/internal/petstore"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *listen, Handler: petstore.New(os.Getenv("PETSTORE_API_KEY"))}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("petstore listening on http://%s", *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
