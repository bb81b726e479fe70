// Package petstore is the sample REST API that the examples turn into MCP
// tools: an in-memory pet store behind an X-Api-Key check. Command
// examples/quickstart/petstore serves it on loopback; the tests of package
// examples serve it with httptest.
//
// Routes (every error is JSON: {"error": {"code": "…", "message": "…"}}):
//
//	GET  /pets                   search: status=a,b  tag=x (repeated: any)  tags=x+y (all)  ids=1|2
//	                             filter[name]=  filter[born_after]=  filter[born_before]=
//	                             limit=  offset=  sort={"field":"born","order":"desc"}
//	POST /pets                   JSON {name, status, tags, born}
//	GET  /pets/{id}              the pet, with an ETag of its version
//	PUT  /pets/{id}              JSON {name, status, tags, born, updated_by}; needs If-Match
//	                             and records X-Change-Reason in the history
//	GET  /pets/{id}/history      since=  until= (unix seconds)  event=snake_case_kind
//	POST /pets/{id}/photos       multipart/form-data: photo (PNG or JPEG file), caption, tags
//	                             (a part each)
//	GET  /pets/{id}/photo        image/png or image/jpeg: the last upload, or a drawn one
//	GET  /pets/{id}/certificate  application/pdf
//	POST /orders                 form: pet_id, customer[name|email|city], extras[i] (or
//	                             repeated extras), notify=a,b, source; Idempotency-Key header
package petstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of the API.
const (
	maxJSONBody  = 64 << 10 // bytes of a JSON request body
	maxFormBody  = 64 << 10 // bytes of a form request body
	maxPhotoBody = 1 << 20  // bytes of a multipart upload
)

// statuses are the valid pet statuses.
var statuses = []string{"available", "pending", "sold"}

type pet struct {
	ID      int      `json:"id"`
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Tags    []string `json:"tags"`
	Born    string   `json:"born,omitempty"` // YYYY-MM-DD
	Version int      `json:"version"`
}

// event is one entry of a pet's history.
type event struct {
	At     int64  `json:"at"`    // unix seconds
	Event  string `json:"event"` // snake_case kind
	Detail string `json:"detail"`
}

type photo struct {
	ID          int      `json:"id"`
	PetID       int      `json:"pet_id"`
	Filename    string   `json:"filename"`
	ContentType string   `json:"content_type"`
	Bytes       int      `json:"bytes"`
	Caption     string   `json:"caption,omitempty"`
	Tags        []string `json:"tags"`
	data        []byte
}

type customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	City  string `json:"city,omitempty"`
}

type order struct {
	ID       string   `json:"id"`
	Pet      petRef   `json:"pet"`
	Customer customer `json:"customer"`
	Extras   []string `json:"extras"`
	Notify   []string `json:"notify"`
	Source   string   `json:"source,omitempty"`
	Status   string   `json:"status"`
}

type petRef struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type store struct {
	apiKey string
	now    func() time.Time

	mu          sync.Mutex
	pets        []*pet
	nextID      int
	history     map[int][]event
	photos      map[int][]*photo // by pet id, oldest first
	nextPhotoID int
	orders      map[string]*order // by idempotency key
	nextOrderID int
}

// New returns the API with its seed data: six pets, each with a weekly
// history from its birth to June 2024. Every request must carry apiKey in
// X-Api-Key; an empty apiKey accepts every request.
func New(apiKey string) http.Handler {
	s := &store{
		apiKey:      apiKey,
		now:         time.Now,
		history:     map[int][]event{},
		photos:      map[int][]*photo{},
		orders:      map[string]*order{},
		nextPhotoID: 1,
		nextOrderID: 1001,
	}
	for _, p := range []pet{
		{ID: 1, Name: "Rex", Status: "available", Tags: []string{"dog"}, Born: "2019-04-12"},
		{ID: 2, Name: "Tom", Status: "pending", Tags: []string{"cat"}, Born: "2020-08-01"},
		{ID: 3, Name: "Polly", Status: "sold", Tags: []string{"bird"}, Born: "2015-02-20"},
		{ID: 4, Name: "Bella", Status: "available", Tags: []string{"dog", "puppy"}, Born: "2021-06-15"},
		{ID: 5, Name: "Luna", Status: "available", Tags: []string{"cat"}, Born: "2022-01-03"},
		{ID: 6, Name: "Max", Status: "pending", Tags: []string{"dog"}, Born: "2018-11-30"},
	} {
		p.Version = 1
		s.pets = append(s.pets, &p)
		s.history[p.ID] = seedHistory(p)
	}
	s.nextID = len(s.pets) + 1
	return s.routes()
}

// seedHistoryEnd is when the generated histories stop.
var seedHistoryEnd = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

// seedHistory is a weekly routine from the pet's birth (at 09:00 UTC) to
// seedHistoryEnd, the same for every run.
func seedHistory(p pet) []event {
	born, err := time.Parse(time.DateOnly, p.Born)
	if err != nil {
		return nil
	}
	var out []event
	for i, t := 0, born.Add(9*time.Hour); t.Before(seedHistoryEnd); i, t = i+1, t.AddDate(0, 0, 7) {
		e := event{At: t.Unix()}
		switch i % 4 {
		case 0:
			e.Event, e.Detail = "weighed", fmt.Sprintf("%.1f kg", 0.4+float64(i%53)/10)
		case 1:
			e.Event, e.Detail = "fed", "dry food, 2 portions"
		case 2:
			e.Event, e.Detail = "vet_checkup", "healthy"
		case 3:
			e.Event, e.Detail = "groomed", "brushed and bathed"
		}
		out = append(out, e)
	}
	return out
}

func (s *store) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pets", s.search)
	mux.HandleFunc("POST /pets", s.create)
	mux.HandleFunc("GET /pets/{id}", s.withPet(s.get))
	mux.HandleFunc("PUT /pets/{id}", s.withPet(s.update))
	mux.HandleFunc("GET /pets/{id}/history", s.withPet(s.listHistory))
	mux.HandleFunc("POST /pets/{id}/photos", s.withPet(s.uploadPhoto))
	mux.HandleFunc("GET /pets/{id}/photo", s.withPet(s.getPhoto))
	mux.HandleFunc("GET /pets/{id}/certificate", s.withPet(s.certificate))
	mux.HandleFunc("POST /orders", s.placeOrder)
	return s.auth(mux)
}

// auth checks the API key that api2mcp injects from its environment.
func (s *store) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.apiKey != "" && r.Header.Get("X-Api-Key") != s.apiKey {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong X-Api-Key")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// withPet resolves {id} and calls h with the store locked.
func (s *store) withPet(h func(http.ResponseWriter, *http.Request, *pet)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || id < 1 {
			writeError(w, http.StatusBadRequest, "invalid_id", "a pet id is a positive integer")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.find(id)
		if p == nil {
			writeError(w, http.StatusNotFound, "pet_not_found", fmt.Sprintf("pet %d not found", id))
			return
		}
		h(w, r, p)
	}
}

func (s *store) find(id int) *pet {
	for _, p := range s.pets {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// record appends an event to a pet's history; the store must be locked.
func (s *store) record(id int, kind, detail string) {
	s.history[id] = append(s.history[id], event{At: s.now().Unix(), Event: kind, Detail: detail})
}

// searchSort is the JSON of the sort parameter.
type searchSort struct {
	Field string `json:"field"`
	Order string `json:"order"`
}

func (s *store) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var want []string
	if v := q.Get("status"); v != "" {
		want = strings.Split(v, ",")
		for _, st := range want {
			if !slices.Contains(statuses, st) {
				writeError(w, http.StatusBadRequest, "invalid_status", fmt.Sprintf("status %q is not one of %s", st, strings.Join(statuses, ", ")))
				return
			}
		}
	}
	var ids []int
	if v := q.Get("ids"); v != "" {
		for _, f := range strings.Split(v, "|") {
			id, err := strconv.Atoi(f)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_ids", "ids is a |-separated list of integers")
				return
			}
			ids = append(ids, id)
		}
	}
	anyTag := q["tag"]
	var allTags []string
	if v := q.Get("tags"); v != "" {
		allTags = strings.Fields(v)
	}
	namePrefix := strings.ToLower(q.Get("filter[name]"))
	bornAfter, bornBefore := q.Get("filter[born_after]"), q.Get("filter[born_before]")
	for _, d := range []string{bornAfter, bornBefore} {
		if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
			writeError(w, http.StatusBadRequest, "invalid_date", fmt.Sprintf("%q is not a date (YYYY-MM-DD)", d))
			return
		}
	}
	limit, offset := intParam(q.Get("limit"), 0), intParam(q.Get("offset"), 0)
	if limit < 0 || offset < 0 {
		writeError(w, http.StatusBadRequest, "invalid_page", "limit and offset are non-negative integers")
		return
	}
	order := searchSort{Field: "id", Order: "asc"}
	if v := q.Get("sort"); v != "" {
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&order); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_sort", `sort is JSON: {"field": "id|name|born", "order": "asc|desc"}`)
			return
		}
		if order.Order == "" {
			order.Order = "asc"
		}
		if !slices.Contains([]string{"id", "name", "born"}, order.Field) || !slices.Contains([]string{"asc", "desc"}, order.Order) {
			writeError(w, http.StatusBadRequest, "invalid_sort", `sort is JSON: {"field": "id|name|born", "order": "asc|desc"}`)
			return
		}
	}

	s.mu.Lock()
	out := []pet{}
	for _, p := range s.pets {
		switch {
		case len(want) > 0 && !slices.Contains(want, p.Status),
			len(ids) > 0 && !slices.Contains(ids, p.ID),
			len(anyTag) > 0 && !slices.ContainsFunc(p.Tags, func(t string) bool { return slices.Contains(anyTag, t) }),
			slices.ContainsFunc(allTags, func(t string) bool { return !slices.Contains(p.Tags, t) }),
			!strings.HasPrefix(strings.ToLower(p.Name), namePrefix),
			bornAfter != "" && (p.Born == "" || p.Born < bornAfter),
			bornBefore != "" && (p.Born == "" || p.Born >= bornBefore):
			continue
		}
		out = append(out, *p)
	}
	s.mu.Unlock()

	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if order.Order == "desc" {
			a, b = b, a
		}
		switch order.Field {
		case "name":
			return a.Name < b.Name
		case "born":
			return a.Born < b.Born
		}
		return a.ID < b.ID
	})
	out = out[min(offset, len(out)):]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	writeJSON(w, http.StatusOK, out)
}

// intParam parses a query integer; empty gives def, anything else that is not
// an integer gives -1.
func intParam(v string, def int) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// petInput is the JSON of POST /pets and PUT /pets/{id}: nil fields are left
// as they are.
type petInput struct {
	Name      *string   `json:"name"`
	Status    *string   `json:"status"`
	Tags      *[]string `json:"tags"`
	Born      *string   `json:"born"`
	UpdatedBy string    `json:"updated_by"`
}

// decodePet reads a petInput strictly: unknown fields are an error.
func decodePet(w http.ResponseWriter, r *http.Request) (*petInput, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return nil, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	var in petInput
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body is not a pet: "+err.Error())
		return nil, false
	}
	switch {
	case in.Name != nil && strings.TrimSpace(*in.Name) == "":
		writeError(w, http.StatusBadRequest, "invalid_name", "name must not be empty")
		return nil, false
	case in.Status != nil && !slices.Contains(statuses, *in.Status):
		writeError(w, http.StatusBadRequest, "invalid_status", fmt.Sprintf("status %q is not one of %s", *in.Status, strings.Join(statuses, ", ")))
		return nil, false
	}
	if in.Born != nil {
		if _, err := time.Parse(time.DateOnly, *in.Born); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_date", fmt.Sprintf("born %q is not a date (YYYY-MM-DD)", *in.Born))
			return nil, false
		}
	}
	return &in, true
}

func (s *store) create(w http.ResponseWriter, r *http.Request) {
	in, ok := decodePet(w, r)
	if !ok {
		return
	}
	if in.Name == nil {
		writeError(w, http.StatusBadRequest, "invalid_name", "a pet needs a name")
		return
	}
	p := pet{Name: *in.Name, Status: "available", Tags: []string{}, Version: 1}
	if in.Status != nil {
		p.Status = *in.Status
	}
	if in.Tags != nil && *in.Tags != nil {
		p.Tags = *in.Tags
	}
	if in.Born != nil {
		p.Born = *in.Born
	}
	s.mu.Lock()
	p.ID = s.nextID
	s.nextID++
	s.pets = append(s.pets, &p)
	s.record(p.ID, "registered", "as "+p.Status)
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("/pets/%d", p.ID))
	writeJSON(w, http.StatusCreated, p)
}

func (s *store) get(w http.ResponseWriter, r *http.Request, p *pet) {
	w.Header().Set("ETag", etag(p))
	writeJSON(w, http.StatusOK, p)
}

func etag(p *pet) string { return strconv.Quote(strconv.Itoa(p.Version)) }

// update changes a pet if If-Match names its current version (optimistic
// locking), and records X-Change-Reason in its history.
func (s *store) update(w http.ResponseWriter, r *http.Request, p *pet) {
	match := r.Header.Get("If-Match")
	if match == "" {
		writeError(w, http.StatusPreconditionRequired, "version_required", "send If-Match with the pet's ETag (its version in quotes)")
		return
	}
	if match != etag(p) {
		writeError(w, http.StatusPreconditionFailed, "version_conflict",
			fmt.Sprintf("pet %d is at version %d, not %s; get it again and retry", p.ID, p.Version, strings.Trim(match, `"`)))
		return
	}
	in, ok := decodePet(w, r)
	if !ok {
		return
	}
	var changed []string
	if in.Name != nil {
		p.Name = *in.Name
		changed = append(changed, "name")
	}
	if in.Status != nil {
		p.Status = *in.Status
		changed = append(changed, "status")
	}
	if in.Tags != nil {
		p.Tags = *in.Tags
		if p.Tags == nil {
			p.Tags = []string{}
		}
		changed = append(changed, "tags")
	}
	if in.Born != nil {
		p.Born = *in.Born
		changed = append(changed, "born")
	}
	p.Version++
	detail := strings.Join(changed, ", ")
	if in.UpdatedBy != "" {
		detail += " by " + in.UpdatedBy
	}
	if reason := r.Header.Get("X-Change-Reason"); reason != "" {
		detail += ": " + reason
	}
	s.record(p.ID, "updated", detail)
	w.Header().Set("ETag", etag(p))
	writeJSON(w, http.StatusOK, p)
}

func (s *store) listHistory(w http.ResponseWriter, r *http.Request, p *pet) {
	q := r.URL.Query()
	since, until := int64(0), int64(1)<<62
	for _, b := range []struct {
		name string
		dst  *int64
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(b.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_time", b.name+" is a unix time in seconds")
				return
			}
			*b.dst = n
		}
	}
	kind := q.Get("event")
	out := []event{}
	for _, e := range s.history[p.ID] {
		if e.At >= since && e.At < until && (kind == "" || e.Event == kind) {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// photoTypes are the content types a photo may have.
var photoTypes = []string{"image/png", "image/jpeg"}

func (s *store) uploadPhoto(w http.ResponseWriter, r *http.Request, p *pet) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBody)
	if err := r.ParseMultipartForm(maxPhotoBody); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a photo upload is at most %d bytes", maxPhotoBody))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_body", "send multipart/form-data with a photo file part")
		return
	}
	f, fh, err := r.FormFile("photo")
	if err != nil {
		writeError(w, http.StatusBadRequest, "photo_required", "the photo file part is missing")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "reading the photo failed")
		return
	}
	declared := fh.Header.Get("Content-Type")
	if sniffed := http.DetectContentType(data); !slices.Contains(photoTypes, declared) || sniffed != declared {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("a photo is a PNG or JPEG image; this one is declared %s and looks like %s", declared, sniffed))
		return
	}
	ph := &photo{
		ID:          s.nextPhotoID,
		PetID:       p.ID,
		Filename:    fh.Filename,
		ContentType: declared,
		Bytes:       len(data),
		Caption:     r.FormValue("caption"),
		Tags:        append([]string{}, r.MultipartForm.Value["tags"]...),
		data:        data,
	}
	s.nextPhotoID++
	s.photos[p.ID] = append(s.photos[p.ID], ph)
	s.record(p.ID, "photo_added", ph.Filename)
	writeJSON(w, http.StatusCreated, ph)
}

func (s *store) getPhoto(w http.ResponseWriter, r *http.Request, p *pet) {
	ct, data := "image/png", drawPet(p.ID)
	if ps := s.photos[p.ID]; len(ps) > 0 {
		last := ps[len(ps)-1]
		ct, data = last.ContentType, last.data
	}
	w.Header().Set("Content-Type", ct)
	w.Write(data)
}

func (s *store) certificate(w http.ResponseWriter, r *http.Request, p *pet) {
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="pet-%d-certificate.pdf"`, p.ID))
	w.Write(certificatePDF(p))
}

// extrasKey matches extras[0], extras[1], … (the bracket form encoding).
var extrasKey = regexp.MustCompile(`^extras\[(\d+)\]$`)

func (s *store) placeOrder(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body is not a form")
		return
	}
	f := r.PostForm
	petID, err := strconv.Atoi(f.Get("pet_id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_pet_id", "pet_id is an integer")
		return
	}
	c := customer{Name: f.Get("customer[name]"), Email: f.Get("customer[email]"), City: f.Get("customer[city]")}
	if c.Name == "" || !strings.Contains(c.Email, "@") {
		writeError(w, http.StatusBadRequest, "invalid_customer", "customer[name] and customer[email] are required")
		return
	}
	extras := slices.Clone(f["extras"])
	type indexed struct {
		i int
		v string
	}
	var bracketed []indexed
	for k, vs := range f {
		if m := extrasKey.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[1])
			bracketed = append(bracketed, indexed{i, vs[0]})
		}
	}
	sort.Slice(bracketed, func(a, b int) bool { return bracketed[a].i < bracketed[b].i })
	for _, e := range bracketed {
		extras = append(extras, e.v)
	}
	if extras == nil {
		extras = []string{}
	}
	notify := []string{}
	if v := f.Get("notify"); v != "" {
		notify = strings.Split(v, ",")
	}

	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[key]; ok && key != "" {
		writeJSON(w, http.StatusOK, o) // a retry: the same order again
		return
	}
	p := s.find(petID)
	if p == nil {
		writeError(w, http.StatusNotFound, "pet_not_found", fmt.Sprintf("pet %d not found", petID))
		return
	}
	if p.Status != "available" {
		writeError(w, http.StatusConflict, "pet_unavailable", fmt.Sprintf("pet %d (%s) is %s, not available", p.ID, p.Name, p.Status))
		return
	}
	o := &order{
		ID:       fmt.Sprintf("ord-%d", s.nextOrderID),
		Pet:      petRef{ID: p.ID, Name: p.Name},
		Customer: c,
		Extras:   extras,
		Notify:   notify,
		Source:   f.Get("source"),
		Status:   "placed",
	}
	s.nextOrderID++
	if key != "" {
		s.orders[key] = o
	}
	p.Status = "pending"
	p.Version++
	s.record(p.ID, "ordered", o.ID+" for "+c.Name)
	w.Header().Set("Location", "/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes {"error": {"code": code, "message": message}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
