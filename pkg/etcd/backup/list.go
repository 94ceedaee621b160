package backup

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// Info is one complete backup: its name and meta.
type Info struct {
	Name string `json:"name"`
	// Time is when the backup was taken, read from its name, so it is
	// known even when the meta object is damaged.
	Time time.Time `json:"time"`
	Seq  int       `json:"seq"`
	// Meta is zero when Damaged is set.
	Meta Meta `json:"meta"`
	// Damaged says why the backup's meta object cannot be used: it could
	// not be read, is not valid JSON, or lacks the snapshot's sha256 and
	// size. Empty for an intact backup. A damaged backup is listed so that
	// it can be seen and aged out by retention; it is never restored.
	Damaged string `json:"damaged,omitempty"`
}

// ErrDamaged is returned (wrapped in a *DamagedError) for a backup whose
// meta object cannot be used.
var ErrDamaged = errors.New("backup meta is damaged")

// DamagedError says which backup is damaged and why.
type DamagedError struct {
	Backup string
	Reason string // names the meta object
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("backup %s is damaged: %s; refusing to restore it: restore an intact backup instead ('hull backup list' shows which)", e.Backup, e.Reason)
}

// Unwrap lets errors.Is(err, ErrDamaged) hold.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

// DamageError returns a *DamagedError for a damaged backup, nil for an
// intact one.
func (b Info) DamageError() error {
	if b.Damaged == "" {
		return nil
	}
	return &DamagedError{Backup: b.Name, Reason: b.Damaged}
}

// Intact returns the backups that are not damaged, in the same order.
func Intact(all []Info) []Info {
	var out []Info
	for _, b := range all {
		if b.Damaged == "" {
			out = append(out, b)
		}
	}
	return out
}

// List returns the complete backups of an etcd cluster, newest first. A
// directory without a meta object (a backup in flight, or one whose writer
// died) is not a backup. A meta object that cannot be read or decoded does
// not fail the listing: that backup is returned with Damaged set, so that
// one bad object stops neither the listing, nor scheduled backups, nor
// retention, nor the restore of another backup.
func List(ctx context.Context, store *state.Store, cluster, etcdCluster string) ([]Info, error) {
	prefix := Prefix(cluster, etcdCluster) + "/"
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list backups of etcd %s: %w", etcdCluster, err)
	}
	var out []Info
	for _, o := range objs {
		name, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, prefix), "/"+MetaObject)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		t, seq, err := ParseName(name)
		if err != nil {
			continue // not a backup directory
		}
		b := Info{Name: name, Time: t, Seq: seq}
		data, _, err := store.Get(ctx, o.Key)
		switch {
		case errors.Is(err, state.ErrNotFound):
			continue // deleted since the listing
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("list backups of etcd %s: %w", etcdCluster, context.Cause(ctx))
		case err != nil:
			b.Damaged = fmt.Sprintf("read %s: %v", o.Key, err)
		default:
			if b.Meta, err = decodeMeta(data); err != nil {
				b.Meta, b.Damaged = Meta{}, fmt.Sprintf("decode %s: %v", o.Key, err)
			}
		}
		out = append(out, b)
	}
	SortNewestFirst(out)
	return out, nil
}

// decodeMeta parses a meta object and checks it holds what a restore
// needs: the snapshot's sha256 and size.
func decodeMeta(data []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return Meta{}, err
	}
	if sum, err := hex.DecodeString(m.SnapshotSHA256); err != nil || len(sum) != sha256.Size {
		return Meta{}, fmt.Errorf("snapshotSHA256 %q is not a sha256", m.SnapshotSHA256)
	}
	if m.SnapshotSize <= 0 {
		return Meta{}, fmt.Errorf("snapshotSize %d is not positive", m.SnapshotSize)
	}
	return m, nil
}

// SortNewestFirst orders backups by time and sequence, newest first.
func SortNewestFirst(b []Info) {
	slices.SortFunc(b, func(x, y Info) int {
		if c := y.Time.Compare(x.Time); c != 0 {
			return c
		}
		return cmp.Compare(y.Seq, x.Seq)
	})
}

// Find returns the backup called name, or a *NotFoundError listing the
// nearest names.
func Find(name string, all []Info) (Info, error) {
	for _, b := range all {
		if b.Name == name {
			return b, nil
		}
	}
	return Info{}, &NotFoundError{Name: name, Nearest: Nearest(name, all)}
}

// NotFoundError says a backup does not exist and which ones are nearest.
type NotFoundError struct {
	Name    string
	Nearest []Info
}

func (e *NotFoundError) Error() string {
	if len(e.Nearest) == 0 {
		return fmt.Sprintf("backup %q not found; there are no backups", e.Name)
	}
	names := make([]string, len(e.Nearest))
	for i, b := range e.Nearest {
		names[i] = b.Name
	}
	return fmt.Sprintf("backup %q not found; nearest: %s", e.Name, strings.Join(names, ", "))
}

// Unwrap lets errors.Is(err, state.ErrNotFound) hold.
func (e *NotFoundError) Unwrap() error { return state.ErrNotFound }

// maxNearest is how many names Nearest returns.
const maxNearest = 5

// Nearest returns up to five backups whose names are closest to name: by
// time when name starts with a time (a typo in the sequence or seconds),
// otherwise by edit distance.
func Nearest(name string, all []Info) []Info {
	type scored struct {
		b     Info
		score int64
	}
	at, ok := parseLoose(name)
	s := make([]scored, len(all))
	for i, b := range all {
		if ok {
			d := b.Time.Sub(at)
			s[i] = scored{b, int64(max(d, -d))}
		} else {
			s[i] = scored{b, int64(editDistance(name, b.Name))}
		}
	}
	slices.SortStableFunc(s, func(x, y scored) int { return cmp.Compare(x.score, y.score) })
	var out []Info
	for _, x := range s[:min(len(s), maxNearest)] {
		out = append(out, x.b)
	}
	return out
}

// parseLoose reads the time at the start of a backup-like name, accepting a
// missing sequence, a missing Z, or minutes-only precision.
func parseLoose(name string) (time.Time, bool) {
	if t, _, err := ParseName(name); err == nil {
		return t, true
	}
	for _, layout := range []string{time.RFC3339, stampLayout, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		for n := len(name); n > 0; n-- {
			if t, err := time.Parse(layout, name[:n]); err == nil {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Delete removes a backup: its meta first, so a half-deleted backup is
// never listed, then its data.
func Delete(ctx context.Context, store *state.Store, cluster, etcdCluster, name string) error {
	if err := store.Delete(ctx, MetaKey(cluster, etcdCluster, name), state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("delete backup %s: %w", name, err)
	}
	if err := store.Delete(ctx, DataKey(cluster, etcdCluster, name), state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("delete backup %s: %w", name, err)
	}
	return nil
}

// Orphans returns the names of backup directories that hold data but no
// meta and whose backup started (by its name) before cutoff: the remains of
// a writer that died, or of a half-finished Delete.
func Orphans(ctx context.Context, store *state.Store, cluster, etcdCluster string, cutoff time.Time) ([]string, error) {
	prefix := Prefix(cluster, etcdCluster) + "/"
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list backups of etcd %s: %w", etcdCluster, err)
	}
	hasMeta := map[string]bool{}
	data := map[string]time.Time{}
	for _, o := range objs {
		dir, obj, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok || strings.Contains(obj, "/") {
			continue
		}
		t, _, err := ParseName(dir)
		if err != nil {
			continue
		}
		switch obj {
		case MetaObject:
			hasMeta[dir] = true
		case DataObject:
			data[dir] = t
		}
	}
	var out []string
	for dir, started := range data {
		if !hasMeta[dir] && started.Before(cutoff) {
			out = append(out, dir)
		}
	}
	slices.Sort(out)
	return out, nil
}
