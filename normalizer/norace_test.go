//go:build !race

package normalizer

const raceEnabled = false
