package readlimit

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		n       int64
		want    string
		wantErr error
	}{
		{"hello", 10, "hello", nil},
		{"hello", 5, "hello", nil},
		{"hello world", 5, "hello", ErrExceeded},
		{"", 0, "", nil},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(New(strings.NewReader(tt.in), tt.n))
		if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("ReadAll(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, err, tt.want, tt.wantErr)
		}
	}
}
