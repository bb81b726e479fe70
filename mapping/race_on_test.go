//go:build race

package mapping

// raceDetector: the race detector slows expression evaluation tenfold or
// more, so wall-clock bounds are only checked without it.
const raceDetector = true
