package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/state"
)

// Dir is the control directory of an etcd cluster:
// <cluster>/backups/etcd/<etcdCluster>/control.
func Dir(cluster, etcdCluster string) string {
	return path.Join(backup.Prefix(cluster, etcdCluster), "control")
}

// RestoreKey is where a pending or running restore command lives.
func RestoreKey(cluster, etcdCluster, id string) string {
	return path.Join(Dir(cluster, etcdCluster), "restore-"+id+".json")
}

// RestoreHistoryKey is where a finished restore command is kept.
func RestoreHistoryKey(cluster, etcdCluster, id string) string {
	return path.Join(Dir(cluster, etcdCluster), "history", "restore-"+id+".json")
}

// BackupRequestKey is where a request for a backup now lives.
func BackupRequestKey(cluster, etcdCluster, id string) string {
	return path.Join(Dir(cluster, etcdCluster), "backup-"+id+".json")
}

// NewID names a command: its UTC time and a random suffix.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// ErrNoChange, returned by an Update function, leaves the object alone.
var ErrNoChange = errors.New("no change")

// maxUpdateAttempts bounds how often Update re-reads after a conflict.
const maxUpdateAttempts = 20

// Get reads a JSON command object and its generation.
func Get[T any](ctx context.Context, store *state.Store, key string) (*T, state.Generation, error) {
	data, gen, err := store.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", key, err)
	}
	return v, gen, nil
}

// Create writes a new command object; it fails if the key exists.
func Create(ctx context.Context, store *state.Store, key string, v any) error {
	_, err := create(ctx, store, key, v)
	return err
}

func create(ctx context.Context, store *state.Store, key string, v any) (state.Generation, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	return store.Put(ctx, key, data, state.MustNotExist())
}

// Update is a conditional read-modify-write of a command object that
// several managers write at once: fn changes the decoded object, and the
// write names the generation read, retrying on conflict. It returns the
// object as written (or as read, when fn returns ErrNoChange).
func Update[T any](ctx context.Context, store *state.Store, key string, fn func(*T) error) (*T, error) {
	var out *T
	var failed, conflict error // failed ends the retries; conflict is the last one retried
	attempt := func(ctx context.Context) (bool, error) {
		v, gen, err := Get[T](ctx, store, key)
		if err != nil {
			failed = err
			return false, err
		}
		if err := fn(v); errors.Is(err, ErrNoChange) {
			out = v
			return true, nil
		} else if err != nil {
			failed = err
			return false, err
		}
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			failed = fmt.Errorf("encode %s: %w", key, err)
			return false, failed
		}
		if _, err := store.Put(ctx, key, data, state.MatchGeneration(gen)); errors.Is(err, state.ErrConflict) {
			conflict = err
			return false, nil
		} else if err != nil {
			failed = err
			return false, err
		}
		out = v
		return true, nil
	}
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 20 * time.Millisecond, Steps: maxUpdateAttempts}, attempt)
	switch {
	case failed != nil:
		return nil, failed
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("update %s: gave up after %d conflicts: %w", key, maxUpdateAttempts, conflict)
}

// listIDs returns the ids of the top-level control objects named
// <kind>-<id>.json, oldest first (ids start with their time).
func listIDs(ctx context.Context, store *state.Store, cluster, etcdCluster, kind string) ([]string, error) {
	dir := Dir(cluster, etcdCluster) + "/"
	objs, err := store.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s commands of etcd %s: %w", kind, etcdCluster, err)
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, dir)
		if strings.Contains(rest, "/") {
			continue
		}
		if id, ok := strings.CutPrefix(rest, kind+"-"); ok {
			if id, ok = strings.CutSuffix(id, ".json"); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// Damaged is a control object that could not be read or decoded. Listings
// skip it, so that one bad object stops no other command, and return it
// for the caller to warn about: a human removes it once they have looked.
type Damaged struct {
	Key string
	Err error
}

func (d Damaged) Error() string {
	return fmt.Sprintf("skipped damaged control object %s (remove it once looked at): %v", d.Key, d.Err)
}

// list reads the top-level control objects of a kind, oldest first,
// skipping those deleted since the listing and returning the damaged ones
// apart.
func list[T any](ctx context.Context, store *state.Store, cluster, etcdCluster, kind string, key func(cluster, etcdCluster, id string) string) ([]*T, []Damaged, error) {
	ids, err := listIDs(ctx, store, cluster, etcdCluster, kind)
	if err != nil {
		return nil, nil, err
	}
	var out []*T
	var damaged []Damaged
	for _, id := range ids {
		k := key(cluster, etcdCluster, id)
		v, _, err := Get[T](ctx, store, k)
		switch {
		case errors.Is(err, state.ErrNotFound):
			continue // finished or withdrawn since the listing
		case err != nil && ctx.Err() != nil:
			return nil, nil, fmt.Errorf("read %s: %w", k, context.Cause(ctx))
		case err != nil:
			damaged = append(damaged, Damaged{Key: k, Err: err})
		default:
			out = append(out, v)
		}
	}
	return out, damaged, nil
}
