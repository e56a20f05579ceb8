//go:build !race

package snapstore_test

const raceEnabled = false
