package bench

import "errors"

// Sentinel errors of the package; returned errors wrap them with %w.
var (
	// ErrInvalidConfig is a Config that describes no benchmark.
	ErrInvalidConfig = errors.New("chatbench: invalid config")
	// ErrSetup is a failure to prepare a run: building or starting
	// chatstated, opening the baseline's stores.
	ErrSetup = errors.New("chatbench: setup failed")
	// ErrLoad is a failure to load the dataset.
	ErrLoad = errors.New("chatbench: loading the dataset failed")
)
