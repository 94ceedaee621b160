package testproc

import (
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// helperEnv makes the test binary serve HTTP on the address it names.
const helperEnv = "HULL_TESTPROC_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		time.Sleep(200 * time.Millisecond) // so that Start has to wait
		_ = http.ListenAndServe(addr, http.NotFoundHandler())
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// The server answers once Start returns and is gone after the test.
func TestStartAndKill(t *testing.T) {
	ready := AnswersHTTP("/", false)
	var addr string
	t.Run("server", func(t *testing.T) {
		addr = Start(t, Server{
			Name: "helper",
			Command: func(addr string) *exec.Cmd {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), helperEnv+"="+addr)
				return cmd
			},
			Ready:   ready,
			Timeout: 20 * time.Second,
			Tries:   2,
		})
		if err := ready(addr); err != nil {
			t.Fatalf("server on %s does not answer: %v", addr, err)
		}
		// A 200 is not what a NotFoundHandler gives.
		if err := AnswersHTTP("/", true)(addr); err == nil {
			t.Error("AnswersHTTP(needOK) accepted a 404")
		}
	})
	if err := ready(addr); err == nil {
		t.Errorf("server on %s still answers after its test ended", addr)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p == 0 {
			t.Fatalf("ports %v are not distinct and non-zero", ports)
		}
		seen[p] = true
	}
}
