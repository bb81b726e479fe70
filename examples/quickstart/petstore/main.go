// Command petstore is a small in-memory REST API for the quickstart: the
// upstream that api2mcp turns into tools. It needs no network beyond loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
)

type pet struct {
	ID     int      `json:"id"`
	Name   string   `json:"name"`
	Status string   `json:"status"`
	Tags   []string `json:"tags"`
}

type store struct {
	mu     sync.Mutex
	pets   []pet
	nextID int
	apiKey string
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "listen address")
	flag.Parse()
	s := &store{apiKey: os.Getenv("PETSTORE_API_KEY"), nextID: 4, pets: []pet{
		{ID: 1, Name: "Rex", Status: "available", Tags: []string{"dog"}},
		{ID: 2, Name: "Tom", Status: "pending", Tags: []string{"cat"}},
		{ID: 3, Name: "Polly", Status: "sold", Tags: []string{"bird"}},
	}}
	srv := &http.Server{Addr: *listen, Handler: s.routes()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("petstore listening on http://%s", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func (s *store) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pets", s.list)
	mux.HandleFunc("GET /pets/{id}", s.get)
	mux.HandleFunc("POST /pets", s.create)
	return s.auth(mux)
}

// auth checks the API key that api2mcp injects from its environment.
func (s *store) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.apiKey != "" && r.Header.Get("X-Api-Key") != s.apiKey {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong X-Api-Key"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *store) list(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	tags := r.URL.Query()["tag"]
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []pet{}
	for _, p := range s.pets {
		if status != "" && p.Status != status {
			continue
		}
		if len(tags) > 0 && !slices.ContainsFunc(p.Tags, func(t string) bool { return slices.Contains(tags, t) }) {
			continue
		}
		out = append(out, p)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *store) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be an integer"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pets {
		if p.ID == id {
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("pet %d not found", id)})
}

func (s *store) create(w http.ResponseWriter, r *http.Request) {
	var p pet
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&p); err != nil || p.Name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a pet with a name"})
		return
	}
	if p.Status == "" {
		p.Status = "available"
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	s.mu.Lock()
	p.ID = s.nextID
	s.nextID++
	s.pets = append(s.pets, p)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
