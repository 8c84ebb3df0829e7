package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/lib/pq"

	"github.com/abusegw/abusegw/gateway/store"
)

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pq.Error{Code: "40P01"}, true},
		{fmt.Errorf("updating counters: %w", &pq.Error{Code: "40001"}), true},
		{&pq.Error{Code: "23505"}, false}, // unique_violation: running again gives the same
		{sql.ErrNoRows, false},
		{errors.New("database is locked"), false},
		{nil, false},
	} {
		if got := store.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
