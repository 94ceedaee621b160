package awstest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MotoVersion is the moto release the tests are written against
// (the Makefile installs it where it is missing).
const MotoVersion = "5.2.1"

const motoMissing = "moto " + MotoVersion + " (python3 -m moto.server) is not installed (HULL_MOTO_PYTHON names another Python); `make moto` installs it"

// motoServer is `python3 -m moto.server` with one fix. moto 5.2.1 stores
// the user-data of CreateLaunchTemplateVersion undecoded (CreateLaunchTemplate
// decodes it), then fails an assertion with HTTP 500 when an Auto Scaling
// group launches from that version; AWS takes base64 user-data in both
// calls alike (EC2 API reference, RequestLaunchTemplateData.UserData).
const motoServer = `
import sys
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

create_version = LaunchTemplate.create_version

def create_version_decoded(self, data, description):
    if isinstance(data.get("UserData"), str):
        data["UserData"] = parse_user_data(data["UserData"])
    return create_version(self, data, description)

LaunchTemplate.create_version = create_version_decoded

from moto.server import main
main(sys.argv[1:])
`

// StartMoto starts moto's server, an independent implementation of the
// AWS APIs, on a free loopback port for the test and returns its endpoint
// URL; the process is killed when the test ends. The Python is
// $HULL_MOTO_PYTHON, else python3. Without it or without moto the test is
// skipped, or fails when HULL_REQUIRE_MOTO=1 (make test sets both).
func StartMoto(t testing.TB) string {
	t.Helper()
	python := os.Getenv("HULL_MOTO_PYTHON")
	if python == "" {
		python = "python3"
	}
	python, err := exec.LookPath(python)
	if err == nil {
		err = exec.Command(python, "-c", "import moto.server").Run()
	}
	if err != nil {
		if os.Getenv("HULL_REQUIRE_MOTO") == "1" {
			t.Fatalf("%s: %v", motoMissing, err)
		}
		t.Skipf("WARNING: skipping: %s: %v", motoMissing, err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The port is free when asked for; should another process take it
	// before moto binds it, moto exits and the next try takes another.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, "-c", motoServer, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start moto: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("moto's log (the end):\n%s", tail(logf.Name(), 40))
			}
		})
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		start := time.Now()
		err = waitAnswers(endpoint+"/moto-api/", exited, time.Minute)
		if err == nil {
			t.Logf("moto answered on %s after %s", endpoint, time.Since(start).Round(time.Millisecond))
			return endpoint
		}
		if try == 2 {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("moto on %s: %v\n%s", endpoint, err, b)
		}
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitAnswers polls url until it answers 200, the process exits, or the
// timeout passes (moto imports every service's models first, which takes
// seconds on a busy machine).
func waitAnswers(url string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before it answered: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not answer within %s: %w", timeout, err)
		}
	}
}
