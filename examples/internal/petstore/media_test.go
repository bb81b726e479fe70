package petstore

import (
	"bytes"
	"fmt"
	"image/png"
	"regexp"
	"strconv"
	"testing"
)

func TestDrawPet(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(drawPet(3)))
	if err != nil {
		t.Fatalf("drawPet does not make a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("size %v, want 32×32", b.Size())
	}
}

// TestCertificatePDF checks the structure PDF readers rely on: every
// cross-reference entry points at its object, startxref at the table.
func TestCertificatePDF(t *testing.T) {
	doc := certificatePDF(&pet{ID: 1, Name: "Rex (the dog)", Tags: []string{"dog"}, Born: "2019-04-12"})
	if !bytes.HasPrefix(doc, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(doc, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF:\n%s", doc)
	}
	if !bytes.Contains(doc, []byte(`(Pet 1: Rex \(the dog\)) Tj`)) {
		t.Errorf("the name is missing or not escaped:\n%s", doc)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(doc[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(doc[xref:], -1)
	if len(entries) != 5 {
		t.Fatalf("%d in-use xref entries, want 5", len(entries))
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		if want := fmt.Sprintf("%d 0 obj\n", i+1); !bytes.HasPrefix(doc[off:], []byte(want)) {
			t.Errorf("xref entry %d points at %q, want %q", i+1, doc[off:off+10], want)
		}
	}
}
