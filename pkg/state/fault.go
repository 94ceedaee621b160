package state

import (
	"context"
	"io"
)

// Op names a store operation that a Fault can fail.
type Op string

// The operations a Fault sees. Listing and streaming reads are not
// intercepted: the faults worth testing are lost reads and writes.
const (
	OpGet    Op = "get"
	OpPut    Op = "put" // Put, and the commit of a NewWriter
	OpDelete Op = "delete"
)

// Fault decides, before the backend is asked, whether an operation on key
// fails; nil lets it through. It may be called from several goroutines.
type Fault func(op Op, key string) error

// WithFault returns a Store over the same objects whose Get, Put, Delete
// and NewWriter first ask fault, so a test can fail a chosen write (or
// every write after a point, as a killed process would) against a real
// backend. Closing either Store closes the objects of both.
func (s *Store) WithFault(fault Fault) *Store {
	return &Store{url: s.url, bucket: s.bucket, be: &faultBackend{backend: s.be, fault: fault}}
}

// faultBackend is a backend that consults a Fault first.
type faultBackend struct {
	backend
	fault Fault
}

func (f *faultBackend) get(ctx context.Context, key string) ([]byte, Generation, error) {
	if err := f.fault(OpGet, key); err != nil {
		return nil, "", err
	}
	return f.backend.get(ctx, key)
}

func (f *faultBackend) put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	if err := f.fault(OpPut, key); err != nil {
		return "", err
	}
	return f.backend.put(ctx, key, data, pre)
}

func (f *faultBackend) del(ctx context.Context, key string, pre Precondition) error {
	if err := f.fault(OpDelete, key); err != nil {
		return err
	}
	return f.backend.del(ctx, key, pre)
}

// newWriter asks at commit (Close), where a real write fails for good. A
// failed commit aborts the way Store.NewWriter documents: cancel, then
// Close, so the previous object stays as it was.
func (f *faultBackend) newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := f.backend.newWriter(wctx, key, pre)
	if err != nil {
		cancel()
		return nil, err
	}
	return &faultWriter{WriteCloser: w, cancel: cancel, commit: func() error { return f.fault(OpPut, key) }}, nil
}

type faultWriter struct {
	io.WriteCloser
	cancel context.CancelFunc
	commit func() error
}

func (w *faultWriter) Close() error {
	defer w.cancel()
	if err := w.commit(); err != nil {
		w.cancel()
		_ = w.WriteCloser.Close()
		return err
	}
	return w.WriteCloser.Close()
}
