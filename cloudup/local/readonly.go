package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
)

// OpenReadOnly answers the daemon's read API inside this process from the
// state file the daemon keeps, for commands that only plan or look while no
// daemon runs: it starts nothing, opens no listener and writes nothing, so a
// dry run leaves no process behind. A state directory that does not exist
// is an empty cloud. Every request that would change something is refused.
func OpenReadOnly(stateDir string) (*Client, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	statePath := filepath.Join(stateDir, "state.json")
	st, err := loadState(statePath)
	if err != nil {
		return nil, fmt.Errorf("read the local cloud's state while its daemon is not running (root may be needed): %w", err)
	}
	d := &daemon{
		opts:      DaemonOptions{StateDir: stateDir},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		statePath: statePath,
		st:        st,
		lbs:       map[string]*lbRuntime{},
		images:    newImageCache(),
		lifeCtx:   context.Background(),
	}
	api := d.routes()
	readOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeResult(w, nil, errInvalid("the local cloud daemon is not running and %s %s would change the cloud; run the command as root with --yes, which starts the daemon", r.Method, r.URL.Path))
			return
		}
		api.ServeHTTP(w, r)
	})
	return &Client{http: &http.Client{Transport: handlerTransport{readOnly}}, socket: statePath + " (read only, no daemon)"}, nil
}

// handlerTransport sends requests to an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// Running reports whether a daemon answers on the client's socket.
func (c *Client) Running(ctx context.Context) bool { return c.ping(ctx) == nil }
