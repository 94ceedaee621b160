package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/tests/harness"
)

var binDir, hullBin, probeBin string

// TestMain builds hull with nodeup beside it (hull image build bakes that
// nodeup) and the probe workload.
func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	var err error
	if binDir, err = os.MkdirTemp("", "hull-cluster-bin-"); err != nil {
		panic(err)
	}
	if hullBin, err = harness.Build(binDir, "github.com/hullproject/hull/cmd/hull", "hull", ""); err == nil {
		if _, err = harness.Build(binDir, "github.com/hullproject/hull/cmd/nodeup", "nodeup", ""); err == nil {
			probeBin, err = harness.Build(binDir, "github.com/hullproject/hull/tests/internal/probe", "probe", "")
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// kubectl runs the kubectl the assets repository holds, with the
// kubeconfig hull exported: the real client, as a user would.
type kubectl struct {
	t          *testing.T
	bin        string
	kubeconfig string
}

func (k *kubectl) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (k *kubectl) must(args ...string) string {
	k.t.Helper()
	out, err := k.run(args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (k *kubectl) json(v any, args ...string) {
	k.t.Helper()
	if err := json.Unmarshal([]byte(k.must(append(args, "-o", "json")...)), v); err != nil {
		k.t.Fatalf("kubectl %v: %v", args, err)
	}
}

// kubectlBinary is kubectl from the newest assets repository.
func kubectlBinary(t *testing.T, version string) string {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	p := filepath.Join(cache, "hull", "assets", "v"+version, "bin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubectl from the assets repository: %v", err)
	}
	return p
}
