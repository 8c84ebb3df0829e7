package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/channels/httpapi"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
)

const benchBatch = 1000

// BenchmarkPostEvents posts 1,000-event IntelMQ batches (JSON lines) to
// POST /api/v1/events over a real loopback listener on SQLite: each request
// streams the body to storage, validates it, and processes it (contacts,
// routing, cases, events) before the answer. clients=N posts from N
// connections at once.
func BenchmarkPostEvents(b *testing.B) {
	for _, clients := range []int{1, 4} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			h := setup(b, store.SQLite, withToken(httpapi.Options{}))
			srv := httptest.NewServer(h.handler)
			defer srv.Close()
			// Distinct batches (the same bytes would be duplicates), built
			// before the clock starts.
			bodies := make([][]byte, 64)
			for i := range bodies {
				bodies[i] = events(benchBatch, false, fmt.Sprintf("-%d", i))
			}
			var seq atomic.Int64
			post := func(client *http.Client) error {
				n := seq.Add(1)
				body := bodies[n%int64(len(bodies))]
				// Vary one byte run per request so that no two are alike.
				body = append(bytes.Clone(body[:len(body)-1]), []byte(strings.Repeat(" ", int(n/int64(len(bodies))))+"\n")...)
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"events":1000,`)) {
					return fmt.Errorf("%d %s", resp.StatusCode, out)
				}
				return nil
			}
			b.SetBytes(int64(len(bodies[0])))
			b.ResetTimer()
			if clients == 1 {
				client := srv.Client()
				for b.Loop() {
					if err := post(client); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(clients) // × GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					client := srv.Client()
					for pb.Next() {
						if err := post(client); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPipelineEvents is the baseline of BenchmarkPostEvents without
// HTTP: the same batches through ingest.Pipeline.Ingest, to tell the API's
// cost from the pipeline's.
func BenchmarkPipelineEvents(b *testing.B) {
	h := setup(b, store.SQLite, withToken(httpapi.Options{}))
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = events(benchBatch, false, fmt.Sprintf("-%d", i))
	}
	ctx := b.Context()
	n := 0
	for b.Loop() {
		n++
		body := append(bytes.Clone(bodies[n%len(bodies)]), []byte(strings.Repeat(" ", n/len(bodies))+"\n")...)
		_, sum, err := h.rt.Pipeline.Ingest(ctx, ingest.Source{Channel: "http", Name: "events.json"}, bytes.NewReader(body))
		if err != nil || sum.Events != benchBatch {
			b.Fatalf("%+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPostReportLarge posts one generated report of
// ABUSEGW_BENCH_REPORT_BYTES (default 64 MiB; 1073741824 for the 1 GB
// figure) to POST /api/v1/reports over loopback and reports the peak Go heap
// and the process's peak RSS while it is stored: the body streams to the
// spool file, so both stay flat whatever the size.
func BenchmarkPostReportLarge(b *testing.B) {
	size := int64(64 << 20)
	if s := os.Getenv("ABUSEGW_BENCH_REPORT_BYTES"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = v
	}
	h := setup(b, store.SQLite, withToken(httpapi.Options{MaxBodyBytes: size + 1}))
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		body := &csvSource{remaining: size, salt: i}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/reports?filename=big.csv", body)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(vmHWM())/(1<<10), "peak-RSS-MiB")
}

// csvSource generates a CSV body of a given size without holding it.
type csvSource struct {
	remaining int64
	salt      int
	line      []byte
	pos       int
	n         int
}

func (c *csvSource) Read(p []byte) (int, error) {
	if c.remaining <= 0 {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && c.remaining > 0 {
		if c.pos >= len(c.line) {
			c.n++
			c.line = fmt.Appendf(c.line[:0], "2026-03-01 10:00:00,198.51.100.%d,udp,%d,salt-%d,host-%d.example.net\n", c.n%250+1, c.n%65536, c.salt, c.n)
			c.pos = 0
		}
		k := copy(p, c.line[c.pos:])
		if int64(k) > c.remaining {
			k = int(c.remaining)
		}
		c.pos += k
		p = p[k:]
		total += k
		c.remaining -= int64(k)
	}
	return total, nil
}

// vmHWM is the process's peak resident set size in KiB (Linux), 0 elsewhere.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
