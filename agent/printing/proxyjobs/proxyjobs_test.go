package proxyjobs_test

import (
	"errors"
	"testing"

	"wedge/agent/printing/proxyjobs"
)

// The proxy's journaling is tested through agent/printing (real printer emulators); here only
// that an incomplete configuration is refused up front instead of failing at the first job.
func TestStartRefusesIncompleteConfig(t *testing.T) {
	if _, err := proxyjobs.Start(nil, proxyjobs.Config{Station: "pack-1", Listen: "127.0.0.1:0"}, proxyjobs.Options{}); !errors.Is(err, proxyjobs.ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
}
