package petstore

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// drawPet draws a pet's default photo: a 32×32 PNG, a paw print on a
// background whose colour depends on the id.
func drawPet(id int) []byte {
	const size = 32
	bg := color.RGBA{R: uint8(90 + 37*id%160), G: uint8(140 + 53*id%110), B: uint8(200 - 29*id%120), A: 255}
	paw := color.RGBA{R: 60, G: 40, B: 30, A: 255}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// The pad and four toes, as discs: centre x, centre y, radius.
	discs := [][3]int{{16, 21, 7}, {8, 11, 3}, {13, 7, 3}, {19, 7, 3}, {24, 11, 3}}
	for y := range size {
		for x := range size {
			c := bg
			for _, d := range discs {
				if dx, dy := x-d[0], y-d[1]; dx*dx+dy*dy <= d[2]*d[2] {
					c = paw
				}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory RGBA image cannot fail
	}
	return buf.Bytes()
}

// certificatePDF is a one-page PDF 1.4 document certifying the pet's
// registration, with a correct cross-reference table.
func certificatePDF(p *pet) []byte {
	lines := []struct {
		size int
		text string
	}{
		{24, "Certificate of registration"},
		{14, fmt.Sprintf("Pet %d: %s", p.ID, p.Name)},
		{14, "Tags: " + strings.Join(p.Tags, ", ")},
		{14, "Born: " + p.Born},
		{10, "Issued by the sample petstore of api2mcp."},
	}
	var content strings.Builder
	content.WriteString("BT\n72 760 Td\n")
	for i, l := range lines {
		if i > 0 {
			content.WriteString("0 -32 Td\n")
		}
		fmt.Fprintf(&content, "/F1 %d Tf\n(%s) Tj\n", l.size, pdfString(l.text))
	}
	content.WriteString("ET\n")

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var buf bytes.Buffer
	buf.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return buf.Bytes()
}

// pdfString escapes s for a PDF literal string; characters outside
// printable ASCII become '?' (the standard fonts have no Unicode mapping).
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
