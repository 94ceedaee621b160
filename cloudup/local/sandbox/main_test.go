package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The machines these tests start boot this test binary again in a helper
// mode chosen by helperEnv: "serve" is the boot program (a small HTTP server
// on the machine's address), "daemonize" and "sleeper" build a
// setsid'ed, SIGTERM-ignoring grandchild that Stop must still kill.
const (
	helperEnv     = "HULL_SANDBOX_TEST_HELPER"
	helperAddrEnv = "HULL_SANDBOX_TEST_ADDR"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		serve(os.Getenv(helperAddrEnv))
	case "daemonize":
		daemonize()
	case "sleeper":
		signal.Ignore(syscall.SIGTERM, syscall.SIGHUP)
		select {}
	}
	os.Exit(2)
}

// serve is the machine's boot program in the tests.
func serve(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprint(w, h)
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := os.WriteFile(q.Get("path"), []byte(q.Get("data")), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	// /dial fetches /hostname from another machine, from inside this one.
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + r.URL.Query().Get("addr") + "/hostname")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	// /spawn starts a daemonized, setsid'ed grandchild and returns its pid.
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = []string{helperEnv + "=daemonize"}
		out, err := cmd.Output()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(out)
	})
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "8080"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(3)
	}
	fmt.Fprintln(os.Stderr, "serving on", l.Addr())
	http.Serve(l, mux)
}

// daemonize starts the sleeper in its own session and exits, so the sleeper
// is orphaned: it is no longer a descendant of the boot process.
func daemonize() {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{helperEnv + "=sleeper"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(strconv.Itoa(cmd.Process.Pid))
	os.Exit(0)
}

// ctxFor returns a context ending with the test (or a minute).
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
