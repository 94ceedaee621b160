package assets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// maxStderr bounds how much of a failed command's stderr goes into an error.
const maxStderr = 4096

// command describes one external program run.
type command struct {
	dir  string
	env  []string // added to the process environment
	name string
	args []string
}

// run executes c and returns its stdout, also on failure (some tools,
// like `go mod download -json`, report errors there). A failure returns an
// error that names the command and carries the tail of its stderr.
func run(ctx context.Context, c command) (string, error) {
	cmd := exec.CommandContext(ctx, c.name, c.args...)
	cmd.Dir = c.dir
	if len(c.env) > 0 {
		cmd.Env = append(cmd.Environ(), c.env...)
	}
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	slog.Debug("assets: ran command", "cmd", c.String(), "dir", c.dir, "elapsed", time.Since(start).Round(time.Millisecond), "err", err)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return stdout.String(), fmt.Errorf("%s: %w", c.String(), ctxErr)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) || stderr.Len() > 0 {
			return stdout.String(), fmt.Errorf("%s: %w: %s", c.String(), err, tail(stderr.String()))
		}
		return stdout.String(), fmt.Errorf("%s: %w", c.String(), err)
	}
	return stdout.String(), nil
}

func (c command) String() string {
	return strings.TrimSpace(c.name + " " + strings.Join(c.args, " "))
}

// tail keeps the end of a long output, where tools put the actual error.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxStderr {
		s = "..." + s[len(s)-maxStderr:]
	}
	return s
}
