package backup

import (
	"cmp"
	"context"
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
	Name string    `json:"name"`
	Time time.Time `json:"time"`
	Seq  int       `json:"seq"`
	Meta Meta      `json:"meta"`
}

// List returns the complete backups of an etcd cluster, newest first. A
// directory without a meta object (a backup in flight, or one whose writer
// died) is not a backup.
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
		data, _, err := store.Get(ctx, o.Key)
		if errors.Is(err, state.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("list backups of etcd %s: %w", etcdCluster, err)
		}
		var m Meta
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("list backups of etcd %s: decode %s: %w", etcdCluster, o.Key, err)
		}
		out = append(out, Info{Name: name, Time: t, Seq: seq, Meta: m})
	}
	SortNewestFirst(out)
	return out, nil
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
