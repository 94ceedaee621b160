package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ObjectInfo describes one object in a listing.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// Generation is empty where the backend cannot report it without
	// reading the object (file://, mem://); call Get when you need it.
	Generation Generation
}

// Store is a state store: a bucket of objects addressed by slash-separated
// keys. Every write is atomic, and every write and delete can carry a
// Precondition so that read-modify-write sequences never lose an update.
// A Store is safe for concurrent use.
type Store struct {
	url    string
	bucket *blob.Bucket
	be     backend
}

// backend is what differs per URL scheme: how a compare-and-write is made
// atomic and what a Generation is.
type backend interface {
	get(ctx context.Context, key string) ([]byte, Generation, error)
	put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error)
	del(ctx context.Context, key string, pre Precondition) error
	newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error)
	// listGeneration extracts a Generation from a listing entry, or "".
	listGeneration(obj *blob.ListObject) Generation
	close() error
}

const supportedSchemes = "file://, s3://, gs://, azblob://, mem://"

// Open opens the state store at rawURL. Supported schemes are file://,
// s3://, gs://, azblob:// and mem://; see the scheme-specific notes on
// openFile, openMem and openS3 for the query parameters each accepts.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open state store %q: %w", rawURL, err)
	}
	var be backend
	var bucket *blob.Bucket
	switch u.Scheme {
	case "file":
		bucket, be, err = openFile(u)
	case "mem":
		bucket, be, err = openMem(u)
	case "s3":
		bucket, be, err = openS3(ctx, u)
	case "gs":
		bucket, be, err = openGCS(ctx, u)
	case "azblob":
		bucket, be, err = openAzure(ctx, u)
	default:
		return nil, fmt.Errorf("unsupported state store URL %q: supported schemes are %s", rawURL, supportedSchemes)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %q: %w", rawURL, err)
	}
	return &Store{url: rawURL, bucket: bucket, be: be}, nil
}

// URL returns the URL the store was opened with.
func (s *Store) URL() string { return s.url }

// Close releases the store's resources.
func (s *Store) Close() error { return s.be.close() }

// Get returns the object's bytes and its current generation.
func (s *Store) Get(ctx context.Context, key string) ([]byte, Generation, error) {
	if err := validateKey(key); err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	data, gen, err := s.be.get(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, mapErr(err, key))
	}
	return data, gen, nil
}

// Put writes data atomically if pre holds and returns the new generation.
// If pre does not hold it writes nothing and returns a *ConflictError.
// Put, Delete and NewWriter write nothing once ctx is done and return its
// cause, so a HeldLease's lost lease stops its holder's next write.
func (s *Store) Put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	if err := validateKey(key); err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("put %s: %w", key, context.Cause(ctx))
	}
	gen, err := s.be.put(ctx, key, data, pre)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, preErr(err, key, pre))
	}
	return gen, nil
}

// Delete removes the object if pre holds. MustNotExist makes no sense for a
// delete and is refused. Deleting a missing object returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, key string, pre Precondition) error {
	if err := validateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if pre.kind == preMustNotExist {
		return fmt.Errorf("delete %s: precondition must-not-exist cannot hold for a delete", key)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("delete %s: %w", key, context.Cause(ctx))
	}
	if err := s.be.del(ctx, key, pre); err != nil {
		return fmt.Errorf("delete %s: %w", key, preErr(err, key, pre))
	}
	return nil
}

// NewReader streams an object. The caller must Close it.
func (s *Store) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, mapErr(err, key))
	}
	return r, nil
}

// NewWriter streams an object. Nothing is visible until Close succeeds;
// pre is checked when Close commits, so Close may return a *ConflictError.
// To abort a write, cancel ctx and then call Close: Close returns an error
// and the previous object (if any) is untouched.
func (s *Store) NewWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("write %s: %w", key, context.Cause(ctx))
	}
	w, err := s.be.newWriter(ctx, key, pre)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", key, mapErr(err, key))
	}
	return &wrappedWriter{w: w, key: key, pre: pre}, nil
}

// wrappedWriter gives streaming-write errors the same shape as Put's.
type wrappedWriter struct {
	w   io.WriteCloser
	key string
	pre Precondition
}

func (w *wrappedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = fmt.Errorf("write %s: %w", w.key, mapErr(err, w.key))
	}
	return n, err
}

func (w *wrappedWriter) Close() error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", w.key, preErr(err, w.key, w.pre))
	}
	return nil
}

// List returns every object whose key starts with prefix, at any depth,
// sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, mapErr(err, prefix))
		}
		if obj.IsDir || isTempName(obj.Key) {
			continue
		}
		out = append(out, ObjectInfo{
			Key:        obj.Key,
			Size:       obj.Size,
			ModTime:    obj.ModTime,
			Generation: s.be.listGeneration(obj),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// RemoveStaleTemporaries removes what interrupted writes left under prefix
// (which should end in "/"), at any depth: on file:// the temporary files
// of writes whose process died, once nothing has written to them for
// minutes. A temporary file of a write in flight is left alone. Every write
// sweeps its own directory already; this is for a caller removing a whole
// tree, such as a cluster. Other backends leave no temporaries behind.
func (s *Store) RemoveStaleTemporaries(ctx context.Context, prefix string) error {
	if prefix != "" {
		if err := validateKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return fmt.Errorf("remove stale temporaries: %w", err)
		}
	}
	if lb, ok := s.be.(*localBackend); ok {
		return lb.removeStaleTemps(prefix, true)
	}
	return nil
}

// ListDirs returns the names of the immediate "subdirectories" under
// prefix (a trailing "/" is implied), without the prefix and without a
// trailing slash, sorted. ListDirs(ctx, "") lists the clusters in a store.
func (s *Store) ListDirs(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var out []string
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list directories %q: %w", prefix, mapErr(err, prefix))
		}
		if !obj.IsDir {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if name != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// validateKey restricts keys to a portable character set so that no driver
// escapes them (s3blob and azureblob escape some characters, and the S3 and
// Azure fast paths here talk to the SDKs directly), and so that no key can
// escape a file:// store or be mistaken for a temporary file.
func validateKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return fmt.Errorf("invalid key %q: must not start or end with / or contain //", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("invalid key %q: must not contain . or .. segments", key)
		}
	}
	for _, c := range key {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("-._~/@:+=,", c)
		if !ok {
			return fmt.Errorf("invalid key %q: character %q not allowed (use letters, digits and -._~/@:+=,)", key, c)
		}
	}
	if isTempName(key) {
		return fmt.Errorf("invalid key %q: names ending in .<hex>.tmp are reserved for in-flight writes", key)
	}
	return nil
}

// isTempName reports whether key looks like fileblob's in-flight temporary
// file ("<key>.<hex nanoseconds>.tmp"), which it places next to the final
// file because we ask it to (no_tmp_dir) so the rename never crosses a
// filesystem. Listings hide such files; ones a killed process left behind
// are removed once stale (see removeStaleTemps).
func isTempName(key string) bool {
	rest, ok := strings.CutSuffix(key, ".tmp")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// mapErr turns driver errors into ErrNotFound / *ConflictError, leaving
// errors that are already ours alone.
func mapErr(err error, key string) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return ErrNotFound
	case gcerrors.FailedPrecondition:
		return changedConflict(key)
	}
	return err
}

// preErr is mapErr plus what the precondition tells us: a missing object
// under MatchGeneration is a conflict (someone deleted it), and a failed
// MustNotExist means the object exists.
func preErr(err error, key string, pre Precondition) error {
	err = mapErr(err, key)
	switch {
	case pre.kind == preMatch && errors.Is(err, ErrNotFound):
		return changedConflict(key)
	case pre.kind == preMustNotExist && errors.Is(err, ErrConflict):
		return existsConflict(key)
	}
	return err
}
