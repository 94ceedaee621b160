package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

const counterKey = "demo/counter"

// increment does one read-modify-write of the counter, retrying on
// conflict the way a hull command re-reads and retries. It returns how
// many conflicts it saw.
func increment(ctx context.Context, s *state.Store) (conflicts int, err error) {
	for {
		data, gen, err := s.Get(ctx, counterKey)
		n := 0
		switch {
		case errors.Is(err, state.ErrNotFound):
			gen = ""
		case err != nil:
			return conflicts, err
		default:
			if n, err = strconv.Atoi(string(data)); err != nil {
				return conflicts, fmt.Errorf("counter holds %q: %w", data, err)
			}
		}
		// Pause between read and write, as real work would, so that even
		// the in-memory backend's writers interleave and conflict.
		time.Sleep(200 * time.Microsecond)
		_, err = s.Put(ctx, counterKey, []byte(strconv.Itoa(n+1)), state.MatchGeneration(gen))
		if errors.Is(err, state.ErrConflict) {
			conflicts++
			continue
		}
		return conflicts, err
	}
}

// TestConcurrentWritersNoLostUpdate: two writers, each with its own Store,
// increment one counter N times each; every increment must survive.
func TestConcurrentWritersNoLostUpdate(t *testing.T) {
	for name, url := range sortedBackends(t) {
		t.Run(name, func(t *testing.T) {
			const writers, n = 2, 40
			ctx := context.Background()
			var wg sync.WaitGroup
			var conflicts atomic.Int64
			for w := range writers {
				s := openStore(t, url)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						c, err := increment(ctx, s)
						conflicts.Add(int64(c))
						if err != nil {
							t.Errorf("writer %d: %v", w, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			got, _ := mustGet(t, openStore(t, url), counterKey)
			if got != strconv.Itoa(writers*n) {
				t.Fatalf("counter = %s, want %d: an update was lost", got, writers*n)
			}
			t.Logf("%s: %d increments, %d conflicts retried", name, writers*n, conflicts.Load())
		})
	}
}

// TestStaleGenerationConflict: writer A reads, writer B writes, A writes
// back with what it read: A gets ErrConflict and B's write survives.
func TestStaleGenerationConflict(t *testing.T) {
	for name, url := range sortedBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := openStore(t, url), openStore(t, url)
			mustPut(t, a, counterKey, "1", state.MustNotExist())
			_, genA := mustGet(t, a, counterKey)
			_, genB := mustGet(t, b, counterKey)
			mustPut(t, b, counterKey, "2", state.MatchGeneration(genB))
			_, err := a.Put(ctx, counterKey, []byte("2 from a"), state.MatchGeneration(genA))
			wantConflict(t, err, counterKey)
			wantContent(t, a, counterKey, "2")
		})
	}
}

// Cross-process helpers: the test binary re-executes itself with these
// variables set, and TestMain runs the helper instead of the tests.
const (
	envHelper = "HULL_STATE_TEST_HELPER"
	envURL    = "HULL_STATE_TEST_URL"
	envN      = "HULL_STATE_TEST_N"
	envStart  = "HULL_STATE_TEST_START" // unix nanoseconds to start at
)

func TestMain(m *testing.M) {
	switch os.Getenv(envHelper) {
	case "":
		os.Exit(m.Run())
	case "counter":
		os.Exit(counterHelper())
	case "slow-writer":
		os.Exit(slowWriterHelper())
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(envHelper))
		os.Exit(2)
	}
}

func counterHelper() int {
	ctx := context.Background()
	s, err := state.Open(ctx, os.Getenv(envURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	n, _ := strconv.Atoi(os.Getenv(envN))
	// Start together so that the processes really overlap.
	if start, err := strconv.ParseInt(os.Getenv(envStart), 10, 64); err == nil {
		time.Sleep(time.Until(time.Unix(0, start)))
	}
	conflicts := 0
	for range n {
		c, err := increment(ctx, s)
		conflicts += c
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("conflicts=%d\n", conflicts)
	return 0
}

func helperCmd(t *testing.T, helper, url string, extraEnv ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+helper, envURL+"="+url)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// TestFileCrossProcessNoLostUpdate runs the two conflicting writers as
// separate processes against one file:// store: only an OS-level lock can
// keep them from losing updates.
func TestFileCrossProcessNoLostUpdate(t *testing.T) {
	url := statetest.FileURL(t)
	const procs, n = 2, 150
	cmds := make([]*exec.Cmd, procs)
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	start := time.Now().Add(time.Second).UnixNano()
	var wg sync.WaitGroup
	for i := range cmds {
		cmds[i] = helperCmd(t, "counter", url, envN+"="+strconv.Itoa(n), envStart+"="+strconv.FormatInt(start, 10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = cmds[i].CombinedOutput()
		}()
	}
	wg.Wait()
	conflicts := 0
	for i := range cmds {
		if errs[i] != nil {
			t.Fatalf("writer process %d: %v\n%s", i, errs[i], outs[i])
		}
		var c int
		if _, err := fmt.Sscanf(string(outs[i]), "conflicts=%d", &c); err != nil {
			t.Fatalf("writer process %d said %q", i, outs[i])
		}
		conflicts += c
	}
	t.Logf("%d increments, %d conflicts retried", procs*n, conflicts)
	// Without conflicts the processes never raced and the test proved nothing.
	if conflicts == 0 {
		t.Errorf("the writer processes never conflicted; they did not overlap")
	}
	got, _ := mustGet(t, openStore(t, url), counterKey)
	if got != strconv.Itoa(procs*n) {
		t.Fatalf("counter = %s, want %d: an update was lost across processes", got, procs*n)
	}
}
