package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"
)

// localBackend serves file:// and mem://. Neither driver has a real
// compare-and-swap (fileblob's IfNotExist is a stat-then-rename guarded by a
// per-writer mutex), so every write and delete runs its check and its commit
// inside a lock: flock on the store directory for file:// (which excludes
// other processes too) and a mutex shared by every Store on the same named
// mem:// bucket. Generations are sha256 content hashes, which need no
// sidecar files and mean the same thing in every process.
type localBackend struct {
	bucket *blob.Bucket
	lock   func() (unlock func(), err error)
	// isFile turns on owner-only permissions and fsync for written files.
	isFile bool
	// shared buckets (named mem://) outlive any one Store.
	shared bool
	// dir is the file:// store's directory.
	dir string
}

// openFile opens file:///path. The directory is created (0700) if missing.
// fileblob is configured to create key directories 0700, to put temporary
// files next to their final name (so the commit is a same-filesystem
// rename(2): readers see the old or the new file, never a partial one), and
// not to write .attrs sidecar files. No query parameters are accepted.
func openFile(u *url.URL) (*blob.Bucket, backend, error) {
	if len(u.Query()) > 0 {
		return nil, nil, fmt.Errorf("file:// state stores take no query parameters")
	}
	dir := u.Path
	if u.Host == "." {
		dir = strings.TrimPrefix(dir, "/")
	} else if u.Host != "" && u.Host != "localhost" {
		return nil, nil, fmt.Errorf("file:// URL has host %q; use file:///absolute/path or file://./relative/path", u.Host)
	}
	if dir == "" {
		return nil, nil, errors.New("file:// URL has no path")
	}
	dir = filepath.FromSlash(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	bucket, err := fileblob.OpenBucket(dir, &fileblob.Options{
		DirFileMode: 0o700,
		NoTempDir:   true,
		Metadata:    fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, nil, err
	}
	return bucket, &localBackend{bucket: bucket, lock: dirLock(dir), isFile: true, dir: dir}, nil
}

type memBucket struct {
	bucket *blob.Bucket
	mu     sync.Mutex
}

var (
	memMu      sync.Mutex
	memBuckets = map[string]*memBucket{}
)

// openMem opens mem://NAME. Every Store opened with the same non-empty NAME
// in this process shares one bucket (so a test can open the store once per
// CLI command, as the real CLI does); plain mem:// is private to its Store.
func openMem(u *url.URL) (*blob.Bucket, backend, error) {
	if len(u.Query()) > 0 {
		return nil, nil, fmt.Errorf("mem:// state stores take no query parameters")
	}
	name := u.Host + u.Path
	if name == "" {
		mb := &memBucket{bucket: memblob.OpenBucket(nil)}
		return mb.bucket, &localBackend{bucket: mb.bucket, lock: mutexLock(&mb.mu)}, nil
	}
	memMu.Lock()
	defer memMu.Unlock()
	mb := memBuckets[name]
	if mb == nil {
		mb = &memBucket{bucket: memblob.OpenBucket(nil)}
		memBuckets[name] = mb
	}
	return mb.bucket, &localBackend{bucket: mb.bucket, lock: mutexLock(&mb.mu), shared: true}, nil
}

func mutexLock(mu *sync.Mutex) func() (func(), error) {
	return func() (func(), error) {
		mu.Lock()
		return mu.Unlock, nil
	}
}

func hashGeneration(data []byte) Generation {
	sum := sha256.Sum256(data)
	return Generation("sha256:" + hex.EncodeToString(sum[:]))
}

// get needs no lock: every commit is an atomic replace, so the bytes read
// are one complete version and the hash is that version's generation.
func (b *localBackend) get(ctx context.Context, key string) ([]byte, Generation, error) {
	data, err := b.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, "", err
	}
	return data, hashGeneration(data), nil
}

// check evaluates pre against the current object. Callers hold the lock.
func (b *localBackend) check(ctx context.Context, key string, pre Precondition) error {
	switch pre.kind {
	case preMustNotExist:
		ok, err := b.bucket.Exists(ctx, key)
		if err != nil {
			return err
		}
		if ok {
			return existsConflict(key)
		}
	case preMatch:
		_, gen, err := b.get(ctx, key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			return changedConflict(key)
		}
		if err != nil {
			return err
		}
		if gen != pre.gen {
			return changedConflict(key)
		}
	}
	return nil
}

func (b *localBackend) put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	w, err := b.newWriter(ctx, key, pre)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.(*localWriter).abort()
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return hashGeneration(data), nil
}

func (b *localBackend) del(ctx context.Context, key string, pre Precondition) error {
	unlock, err := b.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.check(ctx, key, pre); err != nil {
		return err
	}
	return b.bucket.Delete(ctx, key)
}

// newWriter streams into fileblob's temporary file (or memblob's buffer);
// only Close takes the lock, checks pre and commits, so a long upload does
// not block other writers.
func (b *localBackend) newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	wctx, cancel := context.WithCancel(ctx)
	lw := &localWriter{b: b, key: key, pre: pre, ctx: ctx, cancel: cancel}
	opts := &blob.WriterOptions{
		// An explicit content type makes blob open the driver writer now
		// rather than after 512 bytes, so BeforeWrite runs before any data.
		ContentType: "application/octet-stream",
	}
	if b.isFile {
		// The next writer into a directory sweeps what interrupted writes
		// left there; a failure to sweep must not fail this write.
		dir := key[:strings.LastIndexByte(key, '/')+1]
		if err := b.removeStaleTemps(dir, false); err != nil {
			slog.Warn("remove stale temporary objects", "dir", dir, "err", err)
		}
		opts.BeforeWrite = func(as func(any) bool) error {
			if !as(&lw.file) {
				return errors.New("fileblob did not expose its temporary file")
			}
			// fileblob creates temporaries 0666 &^ umask; state holds
			// secrets, so make it owner-only before a byte is written.
			return lw.file.Chmod(0o600)
		}
	}
	w, err := b.bucket.NewWriter(wctx, key, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	lw.w = w
	return lw, nil
}

type localWriter struct {
	b      *localBackend
	key    string
	pre    Precondition
	ctx    context.Context
	cancel context.CancelFunc
	w      *blob.Writer
	file   *os.File // file:// only: the temporary file, for fsync
}

func (w *localWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

// abort discards the write; the temporary file is removed.
func (w *localWriter) abort() error {
	w.cancel()
	_ = w.w.Close()
	return nil
}

func (w *localWriter) Close() error {
	defer w.cancel()
	if w.ctx.Err() != nil {
		_ = w.abort()
		return context.Cause(w.ctx)
	}
	if w.file != nil {
		// rename(2) is atomic for readers, but without fsync a crash of
		// the machine could leave the new name pointing at no data.
		if err := w.file.Sync(); err != nil {
			_ = w.abort()
			return err
		}
	}
	unlock, err := w.b.lock()
	if err != nil {
		_ = w.abort()
		return err
	}
	defer unlock()
	if err := w.b.check(w.ctx, w.key, w.pre); err != nil {
		_ = w.abort()
		return err
	}
	return w.w.Close()
}

func (b *localBackend) listGeneration(*blob.ListObject) Generation { return "" }

func (b *localBackend) close() error {
	if b.shared {
		return nil
	}
	return b.bucket.Close()
}

// staleTempAge is how long since its last write a temporary file must lie
// before it counts as the remains of an interrupted write (a killed or
// crashed process) rather than a write in flight. Writers stream without
// pauses, so this is generous; a writer idle for longer loses its temporary
// file and its commit fails, leaving the old object intact.
const staleTempAge = 10 * time.Minute

// removeStaleTemps removes the temporary files (see isTempName) older than
// staleTempAge whose keys start with prefix: in prefix's directory only, or
// in every directory below it too with recursive. Such files are hidden from
// listings and may hold private keys, so nothing else would ever remove them.
func (b *localBackend) removeStaleTemps(prefix string, recursive bool) error {
	if !b.isFile {
		return nil // memblob keeps no temporaries
	}
	keyDir := prefix[:strings.LastIndexByte(prefix, '/')+1]
	root := filepath.Join(b.dir, filepath.FromSlash(keyDir))
	cutoff := time.Now().Add(-staleTempAge)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed meanwhile, or never written
			}
			return err
		}
		if d.IsDir() {
			if p != root && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !isTempName(key) || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil // gone meanwhile, or a write in flight
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		slog.Info("removed a temporary object an interrupted write left behind", "key", key, "modified", info.ModTime())
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove stale temporary objects under %q: %w", prefix, err)
	}
	return nil
}
