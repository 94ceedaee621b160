package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local/sandbox"
)

// The local cloud tests share one daemon (run in-process, as the CLI would
// run it detached) and one test image, built in TestMain.
var env struct {
	tmp      string
	stateDir string
	socket   string
	imageDir string
	logPath  string
	noRoot   error

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	if spec := os.Getenv(testDaemonEnv); spec != "" {
		os.Exit(runTestDaemonProcess(spec))
	}
	os.Exit(runTests(m))
}

// testDaemonEnv makes this test binary act as a detached daemon
// ("STATEDIR:SOCKET"), so Connect's DaemonCommand can be tested.
const testDaemonEnv = "HULL_LOCAL_TEST_DAEMON"

func runTestDaemonProcess(spec string) int {
	state, socket, _ := strings.Cut(spec, ":")
	if err := RunDaemon(context.Background(), DaemonOptions{StateDir: state, Socket: socket}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func runTests(m *testing.M) int {
	if err := sandbox.RequireRoot(); err != nil {
		// Unit tests still run; the machine tests skip with this reason.
		env.noRoot = err
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "hull-local-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.tmp = tmp
	env.stateDir = filepath.Join(tmp, "state")
	env.socket = filepath.Join(tmp, "cloud.sock")
	env.imageDir = filepath.Join(tmp, "image")
	env.logPath = filepath.Join(tmp, "daemon.log")
	defer os.RemoveAll(tmp)

	if err := buildTestImage(env.imageDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := startTestDaemon(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := cleanupTestCloud(); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		code = 1
	}
	if code != 0 || testing.Verbose() {
		fmt.Fprintf(os.Stderr, "--- daemon log (%s), tail:\n%s\n", env.logPath, logTailN(env.logPath, 80))
	}
	return code
}

func logTailN(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildTestImage builds testboot into dir and writes its manifest.
func buildTestImage(dir string) error {
	boot := filepath.Join(dir, "bin", "boot")
	cmd := exec.Command("go", "build", "-o", boot, "github.com/hullproject/hull/internal/testboot")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test image: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("test\n"), 0o644); err != nil {
		return err
	}
	return writeManifest(dir, "testboot")
}

func writeManifest(dir, name string) error {
	files := map[string]string{}
	for _, f := range []string{"bin/boot", "VERSION"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		files[f] = hex.EncodeToString(sum[:])
	}
	data, err := json.MarshalIndent(Manifest{Name: name, Boot: []string{"bin/boot", "--serve"}, Files: files, Versions: map[string]string{"kubernetes": "v0.0.0-test"}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644)
}

// requireRoot skips a test that starts daemons or machines when not root.
func requireRoot(t *testing.T) {
	if env.noRoot != nil {
		if os.Getenv("HULL_REQUIRE_ROOT") == "1" {
			t.Fatalf("the local cloud needs root: %v", env.noRoot)
		}
		t.Skipf("the local cloud needs root: %v", env.noRoot)
	}
}

// startTestDaemon runs RunDaemon in a goroutine and waits until it answers.
func startTestDaemon() error {
	logFile, err := os.OpenFile(env.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := DaemonOptions{StateDir: env.stateDir, Socket: env.socket, Logger: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	go func() {
		done <- RunDaemon(ctx, opts)
		logFile.Close()
	}()
	env.mu.Lock()
	env.cancel, env.done = cancel, done
	env.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := Connect(ctx, ClientOptions{StateDir: env.stateDir, Socket: env.socket})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-done:
			return fmt.Errorf("daemon exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("daemon did not answer within 15s")
}

// stopTestDaemon asks the daemon to shut down (machines keep running) and
// waits for RunDaemon to return.
func stopTestDaemon() error {
	env.mu.Lock()
	cancel, done := env.cancel, env.done
	env.mu.Unlock()
	if done == nil {
		return nil
	}
	ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCtx()
	if c, err := Connect(ctx, ClientOptions{Socket: env.socket}); err == nil {
		_ = c.Shutdown(ctx)
		c.Close()
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cancel()
		err = <-done
	}
	cancel()
	env.mu.Lock()
	env.done = nil
	env.mu.Unlock()
	return err
}

// cleanupTestCloud deletes whatever a failed test left behind: first through
// the API, then, if the daemon cannot, machine by machine from its state.
func cleanupTestCloud() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if c, err := Connect(ctx, ClientOptions{Socket: env.socket}); err == nil {
		for _, cluster := range []string{testCluster, "beta"} {
			groups, _ := c.FindInstanceGroups(ctx, cluster)
			for _, g := range groups {
				errs = append(errs, c.DeleteInstanceGroup(ctx, cluster, g.Name))
			}
			errs = append(errs, c.DeleteLoadBalancer(ctx, cluster, "api"))
			insts, _ := c.ListInstances(ctx, cluster)
			for _, inst := range insts {
				errs = append(errs, c.TerminateInstance(ctx, inst.ID, false))
			}
			errs = append(errs, c.DeleteNetwork(ctx, cluster))
		}
		c.Close()
	}
	errs = append(errs, stopTestDaemon())
	// Last resort: stop every machine the state still knows.
	if st, err := loadState(filepath.Join(env.stateDir, "state.json")); err == nil {
		for _, inst := range st.Instances {
			if inst.live() && inst.Machine != nil {
				errs = append(errs, inst.Machine.Stop(ctx, time.Second))
			} else if inst.live() {
				errs = append(errs, sandbox.Teardown(inst.ID, inst.CgroupParent))
			}
		}
		for _, n := range st.Networks {
			errs = append(errs, sandbox.DeleteBridge(n.ID))
		}
	}
	return errors.Join(errs...)
}
