package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	// The filesystem storage driver, which the configuration names.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Registry is one registry over one directory, served on any number of
// listeners. Its data outlives it: a new Registry over the same directory
// serves the same images.
type Registry struct {
	dir string
	app *handlers.App

	mu      sync.Mutex
	servers map[string]*server // by listen address
	closed  bool
}

// New opens the registry whose blobs and manifests live under dir.
func New(ctx context.Context, dir string) (reg *Registry, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// distribution logs through logrus' standard logger, at level error
	// for every 404 a client's existence check gets (a push asks for each
	// blob first): that would drown the daemon's own log.
	logrus.SetLevel(logrus.FatalLevel)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			"delete":     configuration.Parameters{"enabled": true},
		},
	}
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = "hull-local-cloud" // one instance: no uploads are shared between registries
	defer func() {
		// NewApp panics where it cannot make its storage driver.
		if r := recover(); r != nil {
			reg, err = nil, fmt.Errorf("registry over %s: %v", dir, r)
		}
	}()
	app := handlers.NewApp(ctx, cfg)
	return &Registry{dir: dir, app: app, servers: map[string]*server{}}, nil
}

// Dir is where the registry keeps its data.
func (r *Registry) Dir() string { return r.dir }

// Handler serves the OCI distribution API (/v2/...).
func (r *Registry) Handler() http.Handler { return r.app }

// Listen serves the registry on addr ("127.0.0.1:0" picks a port) until
// Unlisten(addr) or Close, and returns the address it listens on.
func (r *Registry) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	got := ln.Addr().String()
	srv := &http.Server{Handler: r.app, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		return "", errors.New("registry: closed")
	}
	r.servers[got] = &server{srv: srv, ln: ln}
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return got, nil
}

// Listening reports whether the registry serves on addr, as Listen returned it.
func (r *Registry) Listening(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.servers[addr] != nil
}

// Unlisten stops serving on addr; in-flight requests are cut off.
func (r *Registry) Unlisten(addr string) {
	r.mu.Lock()
	s := r.servers[addr]
	delete(r.servers, addr)
	r.mu.Unlock()
	if s != nil {
		_ = s.close()
	}
}

// Close stops every listener and the registry.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	servers := r.servers
	r.servers = map[string]*server{}
	r.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.close())
	}
	errs = append(errs, r.app.Shutdown())
	return errors.Join(errs...)
}

var _ io.Closer = (*Registry)(nil)

// server is one listener and the HTTP server on it.
type server struct {
	srv *http.Server
	ln  net.Listener
}

// close stops the server and closes its listener itself: Serve runs in a
// goroutine and may not have taken the listener over yet, and until it has,
// http.Server.Close does not know it, so the port would still accept.
func (s *server) close() error {
	err := s.srv.Close()
	if lnErr := s.ln.Close(); lnErr != nil && !errors.Is(lnErr, net.ErrClosed) && err == nil {
		err = lnErr
	}
	return err
}
