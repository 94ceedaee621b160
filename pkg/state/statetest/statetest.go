package statetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/testproc"
)

// Bucket is the bucket StartS3 creates.
const Bucket = "hull-state"

const (
	accessKey = "hull-test-access"
	secretKey = "hull-test-secret-key"
)

// FindVersityGW returns the versitygw binary from $PATH or $(go env
// GOPATH)/bin, or "" if it is not installed.
func FindVersityGW() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// StartS3 starts a private versitygw serving a fresh directory on a free
// 127.0.0.1 port, creates Bucket, and returns the s3:// URL for it. The
// server is killed when the test ends. It also sets the AWS credential
// variables for the test (so the test must not be parallel).
//
// If versitygw is not installed the test is skipped, unless
// HULL_REQUIRE_S3=1, in which case it fails.
func StartS3(t testing.TB) string {
	t.Helper()
	bin := FindVersityGW()
	if bin == "" {
		if os.Getenv("HULL_REQUIRE_S3") == "1" {
			t.Fatal(missingMsg)
		}
		t.Skip("SKIPPING: " + missingMsg)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, Bucket), 0o700); err != nil {
		t.Fatal(err)
	}
	// Any HTTP answer will do: an unsigned request gets 403.
	addr := testproc.Start(t, testproc.Server{
		Name: "versitygw",
		Command: func(addr string) *exec.Cmd {
			return exec.Command(bin, "--access", accessKey, "--secret", secretKey, "--port", addr, "posix", dir)
		},
		Ready:   testproc.AnswersHTTP("/", false),
		Timeout: 20 * time.Second,
		Tries:   3, // versitygw exits if another process took the port first
	})

	// Credentials come from the standard environment so the URL holds no
	// secret. No proxy may intercept 127.0.0.1.
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("NO_PROXY", "127.0.0.1")
	return fmt.Sprintf("s3://%s?endpoint=http://%s&region=us-east-1&use_path_style=true", Bucket, addr)
}

const missingMsg = "versitygw not found in $PATH or $(go env GOPATH)/bin: S3 STATE STORE TESTS DID NOT RUN. " +
	"Install it with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (HULL_REQUIRE_S3=1 makes this fatal)"

var memSeq atomic.Int64

// MemURL returns a mem:// URL naming a bucket no other caller gets.
func MemURL(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("mem://%s-%d", name, memSeq.Add(1))
}

// FileURL returns a file:// URL for a fresh temporary directory.
func FileURL(t testing.TB) string {
	return "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "state"))
}

// Backends returns a fresh, empty store URL per backend: "mem", "file" and
// "s3". Without versitygw, "s3" is left out with a loud log line (so the
// other backends still run), or the test fails if HULL_REQUIRE_S3=1.
func Backends(t testing.TB) map[string]string {
	t.Helper()
	urls := map[string]string{
		"mem":  MemURL(t),
		"file": FileURL(t),
	}
	if FindVersityGW() == "" && os.Getenv("HULL_REQUIRE_S3") != "1" {
		t.Log("WARNING: " + missingMsg)
		return urls
	}
	urls["s3"] = StartS3(t)
	return urls
}
