package restore

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/state"
)

// ErrChecksum is returned (wrapped in a *ChecksumError) when a stored
// snapshot does not match its meta.
var ErrChecksum = errors.New("snapshot does not match its meta")

// ChecksumError says which backup is damaged and how.
type ChecksumError struct {
	Backup         string
	WantSHA256     string
	GotSHA256      string
	WantSize       int64
	GotSize        int64
	DecompressFail error
}

func (e *ChecksumError) Error() string {
	if e.DecompressFail != nil {
		return fmt.Sprintf("backup %s is damaged: gunzip failed: %v; refusing to restore it", e.Backup, e.DecompressFail)
	}
	return fmt.Sprintf("backup %s is damaged: snapshot sha256 %s (%d bytes), meta says %s (%d bytes); refusing to restore it",
		e.Backup, e.GotSHA256, e.GotSize, e.WantSHA256, e.WantSize)
}

// Unwrap lets errors.Is(err, ErrChecksum) hold.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }

// Snapshot is a verified snapshot in a local temporary file.
type Snapshot struct {
	Path   string
	Backup backup.Info
}

// Remove deletes the temporary file.
func (s *Snapshot) Remove() error { return os.Remove(s.Path) }

// Verify downloads a backup, gunzips it into a temporary file in dir (the
// system's temporary directory if empty) and checks its sha256 and size
// against the meta. On a mismatch it removes the file and returns a
// *ChecksumError; a backup whose meta is damaged is refused with a
// *backup.DamagedError before anything is read. Nothing else is touched,
// so call it before stopping anything. The caller removes the returned
// snapshot when done.
func Verify(ctx context.Context, store *state.Store, cluster, etcdCluster string, b backup.Info, dir string) (*Snapshot, error) {
	if err := b.DamageError(); err != nil {
		return nil, err
	}
	key := backup.DataKey(cluster, etcdCluster, b.Name)
	r, err := store.NewReader(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", b.Name, err)
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, "etcd-snapshot-*.db")
	if err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", b.Name, err)
	}
	snap := &Snapshot{Path: f.Name(), Backup: b}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := check(ctx, r, f, b); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", b.Name, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", b.Name, err)
	}
	ok = true
	return snap, nil
}

// Check streams a backup through gunzip and sha256 without keeping it,
// for a caller that only needs to know the backup is intact (the CLI,
// before it writes a restore command). A mismatch is a *ChecksumError, a
// damaged meta a *backup.DamagedError.
func Check(ctx context.Context, store *state.Store, cluster, etcdCluster string, b backup.Info) error {
	if err := b.DamageError(); err != nil {
		return err
	}
	r, err := store.NewReader(ctx, backup.DataKey(cluster, etcdCluster, b.Name))
	if err != nil {
		return fmt.Errorf("check backup %s: %w", b.Name, err)
	}
	defer r.Close()
	return check(ctx, r, io.Discard, b)
}

// check gunzips r into w and compares the result with the meta.
func check(ctx context.Context, r io.Reader, w io.Writer, b backup.Info) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return &ChecksumError{Backup: b.Name, DecompressFail: err}
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), gz)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("verify backup %s: %w", b.Name, ctx.Err())
		}
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return fmt.Errorf("verify backup %s: %w", b.Name, err)
		}
		return &ChecksumError{Backup: b.Name, DecompressFail: err}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != b.Meta.SnapshotSHA256 || n != b.Meta.SnapshotSize {
		return &ChecksumError{Backup: b.Name, WantSHA256: b.Meta.SnapshotSHA256, GotSHA256: got, WantSize: b.Meta.SnapshotSize, GotSize: n}
	}
	return nil
}

// RevisionBump is how far a restore moves etcd's revision forward (the
// figure Kubernetes' own restore guide uses).
const RevisionBump = 1_000_000_000

// ToDataDir creates dataDir (which must not exist or be empty) from a
// verified snapshot, for a member called memberName that advertises
// peerURL in a cluster described by initialCluster ("a=https://...,b=...").
// A new clusterToken gives the restored cluster a new cluster id, so
// members of the old cluster can never join it by mistake.
func ToDataDir(snapshotPath, dataDir, memberName, peerURL, initialCluster, clusterToken string) error {
	if clusterToken == "" {
		return errors.New("restore etcd data: a cluster token is required (a fresh one gives a fresh cluster id)")
	}
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapshotPath,
		Name:                memberName,
		OutputDataDir:       dataDir,
		PeerURLs:            []string{peerURL},
		InitialCluster:      initialCluster,
		InitialClusterToken: clusterToken,
		// Kubernetes clients hold resource versions from before the
		// restore. Moving the revision far past them and marking it
		// compacted makes every watch fail with "compacted" and relist,
		// instead of silently missing the changes the restore undid.
		RevisionBump:  RevisionBump,
		MarkCompacted: true,
	})
	if err != nil {
		return fmt.Errorf("restore etcd data for member %s into %s: %w", memberName, dataDir, err)
	}
	return nil
}
