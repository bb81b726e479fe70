package openapi

import (
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/mapping"
	"github.com/getkin/kin-openapi/openapi3"
)

// peakHeap runs f and returns its duration and the peak of live heap
// objects above the level before it started, sampled every 200µs.
func peakHeap(f func()) (time.Duration, uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := read()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	f()
	d := time.Since(start)
	close(done)
	wg.Wait()
	peak = max(peak, read())
	if peak < base {
		return d, 0
	}
	return d, peak - base
}

// BenchmarkGitHubSpec measures GitHub's REST spec (13 MB) from file bytes to
// compiled tools, against kin-openapi's default loader on the same bytes in
// the same run. Reported: ms and peak live heap (MB) of each, and the ratios
// importer/kin-openapi (below 1 is better). Targets: 1.5 s and 300 MB.
//
//	go test -run '^$' -bench GitHubSpec -benchtime 3x ./mapping/openapi
func BenchmarkGitHubSpec(b *testing.B) {
	p := needNPM(b, "@octokit/openapi/generated/api.github.com.json")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	kinTime, kinPeak := peakHeap(func() {
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil || doc == nil {
			b.Fatalf("kin-openapi: %v", err)
		}
		runtime.KeepAlive(doc)
	})
	var total time.Duration
	var peak uint64
	b.ResetTimer()
	for range b.N {
		d, pk := peakHeap(func() {
			res, err := Import(data, &Options{Upstream: "github"})
			if err != nil {
				b.Fatal(err)
			}
			tools := make([]*mapping.Tool, 0, len(res.Tools))
			for _, t := range res.Tools {
				tool, err := mapping.Compile(t.Spec)
				if err != nil {
					b.Fatalf("%s: %v", t.Operation, err)
				}
				tools = append(tools, tool)
			}
			runtime.KeepAlive(tools)
		})
		total += d
		peak = max(peak, pk)
	}
	b.StopTimer()
	ms := float64(total.Milliseconds()) / float64(b.N)
	b.ReportMetric(ms, "ms/import")
	b.ReportMetric(float64(peak)/(1<<20), "peakMB")
	b.ReportMetric(float64(kinTime.Milliseconds()), "kin-ms")
	b.ReportMetric(float64(kinPeak)/(1<<20), "kin-peakMB")
	b.ReportMetric(ms/float64(kinTime.Milliseconds()), "time-ratio")
	b.ReportMetric(float64(peak)/float64(kinPeak), "peak-ratio")
}
