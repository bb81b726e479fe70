package openapi

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// document is one decoded file: the spec, or a local file a $ref names.
type document struct {
	name string // "" for the spec itself, else the path relative to the spec
	root any
}

// refs resolves $ref values: local pointers (#/components/…) and files beside
// the spec (other.yaml#/…). Network refs are never fetched.
type refs struct {
	spec     *document
	files    map[string]*document
	readFile func(string) ([]byte, error)
	baseDir  string
}

// maxRefHops bounds a chain of refs to refs.
const maxRefHops = 32

// deref follows n's $ref (if any) and returns the target and the document it
// lives in, and a key naming the target (for cycle detection).
func (r *refs) deref(d *document, n any) (*document, any, string, error) {
	for hops := 0; ; hops++ {
		m, ok := n.(map[string]any)
		if !ok {
			return d, n, "", nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return d, n, "", nil
		}
		if hops >= maxRefHops {
			return nil, nil, "", fmt.Errorf("$ref %q: more than %d refs in a chain", ref, maxRefHops)
		}
		td, target, err := r.lookup(d, ref)
		if err != nil {
			return nil, nil, "", err
		}
		if _, isRef := target.(map[string]any)["$ref"]; !isRef {
			return td, target, td.name + ref[strings.IndexByte(ref+"#", '#'):], nil
		}
		d, n = td, target
	}
}

func (r *refs) lookup(d *document, ref string) (*document, any, error) {
	file, frag, _ := strings.Cut(ref, "#")
	if file != "" {
		if strings.Contains(file, "://") || strings.HasPrefix(file, "//") {
			return nil, nil, fmt.Errorf("$ref %q: network refs are not fetched", ref)
		}
		fd, err := r.file(d, file)
		if err != nil {
			return nil, nil, fmt.Errorf("$ref %q: %w", ref, err)
		}
		d = fd
	}
	v, err := pointer(d.root, frag)
	if err != nil {
		return nil, nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, fmt.Errorf("$ref %q: does not point to an object", ref)
	}
	return d, v, nil
}

// file reads a file a $ref names, relative to the document that names it,
// refusing anything outside the spec's directory.
func (r *refs) file(from *document, name string) (*document, error) {
	if r.readFile == nil {
		return nil, errors.New("file refs are only read beside a spec loaded from a file")
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		return nil, err
	}
	rel := filepath.Clean(filepath.Join(filepath.Dir(from.name), filepath.FromSlash(name)))
	if filepath.IsAbs(name) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, errors.New("refs may only name files beside the spec")
	}
	if d, ok := r.files[rel]; ok {
		if d == nil {
			return nil, errors.New("unreadable")
		}
		return d, nil
	}
	if len(r.files) >= maxRefFiles {
		return nil, fmt.Errorf("more than %d files referenced", maxRefFiles)
	}
	r.files[rel] = nil
	data, err := r.readFile(filepath.Join(r.baseDir, rel))
	if err != nil {
		return nil, errors.New("cannot read the file")
	}
	root, err := decode(data)
	if err != nil {
		return nil, err
	}
	d := &document{name: rel, root: root}
	r.files[rel] = d
	return d, nil
}

// pointer resolves a JSON pointer (RFC 6901, URL-fragment encoded).
func pointer(root any, frag string) (any, error) {
	if frag == "" {
		return root, nil
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, errors.New("only JSON pointers (#/…) are supported")
	}
	cur := root
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%q not found", tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("index %q out of range", tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q not found", tok)
		}
	}
	return cur, nil
}
