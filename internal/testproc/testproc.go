package testproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Server says how to start a helper server and how to tell it is up.
type Server struct {
	// Name names the server in messages and its log file: "moto".
	Name string
	// Command is the command that serves on addr ("127.0.0.1:PORT"). Its
	// output goes to the server's log; testproc sets its process group.
	Command func(addr string) *exec.Cmd
	// Ready returns nil once the server serves on addr.
	Ready func(addr string) error
	// Timeout bounds the wait for Ready on each try.
	Timeout time.Duration
	// Tries is how many fresh ports to try (at least one): the port is
	// free when chosen, but another process may bind it first.
	Tries int
}

// errExited says the server ended while Start was waiting for it.
var errExited = errors.New("exited before it answered")

// Start starts s on a free loopback port, waits until it is ready and
// returns its address. The server and its process group are killed when
// the test ends; if the test failed, the end of its log is logged then.
// Start fails the test if the server does not come up.
func Start(t testing.TB, s Server) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), s.Name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("%s's log (the end):\n%s", s.Name, Tail(logPath, 40))
		}
	})
	for try := 1; ; try++ {
		addr := FreeAddr(t)
		start := time.Now()
		err := startOnce(t, s, addr, logf)
		if err == nil {
			t.Logf("%s answered on %s after %s", s.Name, addr, time.Since(start).Round(time.Millisecond))
			return addr
		}
		if try >= s.Tries {
			t.Fatalf("%s on %s: %v\n%s", s.Name, addr, err, Tail(logPath, 40))
		}
	}
}

// startOnce starts the server on addr and waits for it. A server that does
// not come up is killed at once; one that does, at the test's end.
func startOnce(t testing.TB, s Server, addr string, logf *os.File) error {
	cmd := s.Command(addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		kill(cmd)
		<-exited
	}
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, s.Timeout, true, func(context.Context) (bool, error) {
		if last = s.Ready(addr); last == nil {
			return true, nil
		}
		select {
		case <-exited:
			return false, fmt.Errorf("%w: %w", errExited, last)
		default:
			return false, nil
		}
	})
	switch {
	case err == nil:
		t.Cleanup(stop)
		return nil
	case errors.Is(err, errExited):
		stop()
		return err
	default:
		stop()
		return fmt.Errorf("did not answer within %s: %w", s.Timeout, last)
	}
}

// AnswersHTTP is a Server.Ready that GETs path: any answer will do, or
// only 200 OK when needOK is set.
func AnswersHTTP(path string, needOK bool) func(addr string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(addr string) error {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if needOK && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that are free now;
// another process may still take one before the caller binds it.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeAddr returns "127.0.0.1:PORT" for a port that is free now, or fails
// the test.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// Tail is the last n lines of a file, for a failure message.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
