package backup

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hullproject/hull/pkg/state"
)

// Meta is the content of a backup's _etcd_backup.meta object.
type Meta struct {
	// EtcdVersion is the version of the member that served the snapshot.
	EtcdVersion string    `json:"etcdVersion"`
	Timestamp   time.Time `json:"timestamp"`
	MemberCount int       `json:"memberCount"`
	// Member is the member behind the client's first endpoint, which served
	// the snapshot when the client has one endpoint (as a manager's does).
	Member string `json:"member,omitempty"`
	// SnapshotSHA256 and SnapshotSize describe the snapshot after gunzip,
	// exactly as etcd streamed it (including etcd's own trailing checksum).
	SnapshotSHA256 string `json:"snapshotSHA256"`
	SnapshotSize   int64  `json:"snapshotSize"`
	// CompressedSize is the size of the etcd.backup.gz object.
	CompressedSize int64 `json:"compressedSize"`
}

// Save takes a snapshot through client and streams it, gzipped, to
// <cluster>/backups/etcd/<etcdCluster>/<stamp>-<seq>/etcd.backup.gz, hashing
// it on the way; then it writes the meta object. Memory use does not depend
// on the size of the database: the snapshot flows through one io.Copy.
//
// If Save fails or ctx is cancelled part way, the data object is not
// committed (or is left without meta), so the backup is never listed.
func Save(ctx context.Context, client *clientv3.Client, store *state.Store, cluster, etcdCluster string, now time.Time, seq int) (*Meta, error) {
	name := Name(now, seq)
	fail := func(err error) (*Meta, error) {
		return nil, fmt.Errorf("back up etcd %s of %s as %s: %w", etcdCluster, cluster, name, err)
	}
	eps := client.Endpoints()
	if len(eps) == 0 {
		return fail(errors.New("the etcd client has no endpoints"))
	}
	status, err := client.Status(ctx, eps[0])
	if err != nil {
		return fail(fmt.Errorf("status of %s: %w", eps[0], err))
	}
	members, err := client.MemberList(ctx)
	if err != nil {
		return fail(fmt.Errorf("list members: %w", err))
	}

	meta := &Meta{EtcdVersion: status.Version, Timestamp: now.UTC(), MemberCount: len(members.Members)}
	for _, mm := range members.Members {
		if mm.ID == status.Header.MemberId {
			meta.Member = mm.Name
		}
	}
	// A taken name is refused before the snapshot streams: the conditional
	// write still guards against a concurrent writer, but an S3 server may
	// refuse it mid-upload by resetting the connection, which reads as a
	// network error rather than a conflict.
	// Listing the backup's directory answers without reading a snapshot.
	dir := path.Dir(DataKey(cluster, etcdCluster, name)) + "/"
	taken, err := store.List(ctx, dir)
	if err != nil {
		return fail(fmt.Errorf("check %s: %w", dir, err))
	}
	if len(taken) > 0 {
		return fail(&state.ConflictError{Key: taken[0].Key, Msg: fmt.Sprintf("backup %s already exists (%s); pick another sequence number and retry", name, taken[0].Key)})
	}
	if err := stream(ctx, client, store, DataKey(cluster, etcdCluster, name), meta); err != nil {
		return fail(err)
	}
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fail(err)
	}
	// Written last: from now on the backup is listed.
	if _, err := store.Put(ctx, MetaKey(cluster, etcdCluster, name), data, state.MustNotExist()); err != nil {
		return fail(err)
	}
	return meta, nil
}

// stream copies the snapshot through gzip into the store object at key and
// fills meta's sizes and hash. On any error the object is not committed.
func stream(ctx context.Context, client *clientv3.Client, store *state.Store, key string, meta *Meta) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, err := client.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("start snapshot: %w", err)
	}
	defer snap.Close()
	w, err := store.NewWriter(ctx, key, state.MustNotExist())
	if err != nil {
		return err
	}
	abort := func(err error) error {
		cancel() // makes Close discard the object
		_ = w.Close()
		return err
	}
	compressed := &countingWriter{w: w}
	gz, err := gzip.NewWriterLevel(compressed, gzip.BestSpeed)
	if err != nil {
		return abort(err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(gz, h), snap)
	if err != nil {
		return abort(fmt.Errorf("stream snapshot after %d bytes: %w", n, err))
	}
	if n == 0 {
		return abort(errors.New("etcd sent an empty snapshot"))
	}
	if err := gz.Close(); err != nil {
		return abort(fmt.Errorf("gzip: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	meta.SnapshotSHA256 = hexSum(h)
	meta.SnapshotSize = n
	meta.CompressedSize = compressed.n
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
