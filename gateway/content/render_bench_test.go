package content

import (
	"testing"
	"time"
)

func BenchmarkRenderCreate(b *testing.B) {
	r, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := SampleCase(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Render(KindCreate, c); err != nil {
			b.Fatal(err)
		}
	}
}
