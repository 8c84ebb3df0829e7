package store

import (
	"errors"

	"github.com/lib/pq"
)

// Retryable reports whether err is PostgreSQL giving up a transaction that
// ran into another one (deadlock_detected, serialization_failure): the
// transaction was rolled back and running it again is expected to work.
// Replicas that process reports touching the same cases can meet so.
func Retryable(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40P01" || pe.Code == "40001"
}
