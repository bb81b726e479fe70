//go:build race

package openapi

// raceEnabled: the race detector slows the real-spec tests tenfold; .ci/run
// runs them in a separate step without it.
const raceEnabled = true
