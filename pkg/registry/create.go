package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
)

// rollbackTimeout bounds the clean-up after a failed create. It runs on a
// fresh context: the caller's is often the very thing that was cancelled.
const rollbackTimeout = 30 * time.Second

// CreateCluster writes a new cluster: keysets, groups, then the config last.
// The cluster exists only once its config is written, and the user sees all
// of it or none of it:
//   - objects found under <cluster>/ with no config are the leftovers of an
//     interrupted create or delete; they are removed first (and logged), so
//     a retry with another shape adopts none of their groups or keys;
//   - if a write fails, what this call wrote is removed again, and so is the
//     lock object, so a failed create leaves nothing behind.
//
// A create killed outright leaves leftovers that the next create removes,
// so re-running converges. The caller validates first.
func (r *Registry) CreateCluster(ctx context.Context, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, keysets []*pki.Keyset) error {
	name := c.Metadata.Name
	objs, err := clusterObjects(c, igs, keysets)
	if err != nil {
		return err
	}
	// Past the existence check the cluster is ours to make: on failure the
	// lock object goes too, since no cluster remains for it to guard.
	ours := false
	removeLease := func(err error) bool { return ours && err != nil }
	return r.withLease(ctx, name, removeLease, func(ctx context.Context) error {
		if _, _, err := r.store.Get(ctx, ConfigKey(name)); err == nil {
			return fmt.Errorf("cluster %q already exists in %s: use `hull replace -f` or `hull edit cluster %s` to change it", name, r.store.URL(), name)
		} else if !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("check cluster %s: %w", name, err)
		}
		ours = true
		if err := r.removeLeftovers(ctx, name); err != nil {
			return err
		}
		return r.putAll(ctx, objs, fmt.Sprintf("the next `hull create` of %s removes them", name))
	})
}

// CreateInstanceGroups adds groups to an existing cluster under its lock,
// all or none: each must not exist yet, and if one write fails the groups
// this call wrote are removed again. The caller validates first.
func (r *Registry) CreateInstanceGroups(ctx context.Context, cluster string, igs []*v1alpha1.InstanceGroup) error {
	var objs []object
	for _, ig := range igs {
		data, err := codec.Encode(ig)
		if err != nil {
			return err
		}
		objs = append(objs, object{what: "instance group " + ig.Metadata.Name, key: InstanceGroupKey(cluster, ig.Metadata.Name), data: data, pre: state.MustNotExist()})
	}
	return r.WithLock(ctx, cluster, func(ctx context.Context) error {
		return r.putAll(ctx, objs, fmt.Sprintf("remove each with `hull delete instancegroup IG --name %s --yes`", cluster))
	})
}

// object is one write of a multi-object create.
type object struct {
	what string // for messages: "keyset kubernetes-ca"
	key  string
	data []byte
	pre  state.Precondition
}

// clusterObjects encodes everything before anything is written, so an
// encoding error writes nothing. The config comes last and must not exist.
func clusterObjects(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, keysets []*pki.Keyset) ([]object, error) {
	name := c.Metadata.Name
	var objs []object
	for _, ks := range keysets {
		priv, err := ks.MarshalPrivate()
		if err != nil {
			return nil, fmt.Errorf("encode keyset %s: %w", ks.Name, err)
		}
		pub, err := ks.MarshalPublic()
		if err != nil {
			return nil, fmt.Errorf("encode keyset %s: %w", ks.Name, err)
		}
		objs = append(objs,
			object{what: "keyset " + ks.Name, key: PrivateKeysetKey(name, ks.Name), data: priv, pre: state.Unconditional()},
			object{what: "keyset " + ks.Name, key: IssuedKeysetKey(name, ks.Name), data: pub, pre: state.Unconditional()})
	}
	// A new identity: this cluster owns nothing in any cloud yet.
	objs = append(objs, object{what: "cluster identity", key: ClusterIDKey(name), data: []byte(NewClusterID() + "\n"), pre: state.Unconditional()})
	for _, ig := range igs {
		data, err := codec.Encode(ig)
		if err != nil {
			return nil, err
		}
		objs = append(objs, object{what: "instance group " + ig.Metadata.Name, key: InstanceGroupKey(name, ig.Metadata.Name), data: data, pre: state.Unconditional()})
	}
	data, err := codec.Encode(c)
	if err != nil {
		return nil, err
	}
	return append(objs, object{what: "cluster " + name, key: ConfigKey(name), data: data, pre: state.MustNotExist()}), nil
}

// putAll writes objs in order. If one fails, the ones before it and the
// failed one itself (a write can land even though it reported an error)
// are rolled back; leftHint tells the user what to do with any that could
// not be.
func (r *Registry) putAll(ctx context.Context, objs []object, leftHint string) error {
	for i, o := range objs {
		if _, err := r.store.Put(ctx, o.key, o.data, o.pre); err != nil {
			err = fmt.Errorf("write %s: %w", o.what, err)
			if left := r.rollback(ctx, objs[:i+1]); len(left) > 0 {
				return fmt.Errorf("%w; rolling back left %s behind (%s)", err, strings.Join(left, ", "), leftHint)
			}
			return fmt.Errorf("%w; nothing was kept", err)
		}
	}
	return nil
}

// rollback removes the objects of a failed create, newest first, on a
// fresh context. It deletes an object only if it still holds the bytes
// this create wrote, and only that generation of it, so it can never
// remove what someone else wrote (an existing config, say). It returns the
// keys it had to leave.
func (r *Registry) rollback(ctx context.Context, objs []object) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var left []string
	for i := len(objs) - 1; i >= 0; i-- {
		o := objs[i]
		data, gen, err := r.store.Get(ctx, o.key)
		switch {
		case errors.Is(err, state.ErrNotFound):
			continue
		case err != nil:
			slog.Warn("roll back failed create", "object", o.key, "err", err)
			left = append(left, o.key)
			continue
		case !bytes.Equal(data, o.data):
			continue // not ours: our write never landed
		}
		if err := r.store.Delete(ctx, o.key, state.MatchGeneration(gen)); err != nil && !errors.Is(err, state.ErrNotFound) {
			slog.Warn("roll back failed create", "object", o.key, "err", err)
			left = append(left, o.key)
		}
	}
	return left
}

// removeLeftovers deletes every object under <cluster>/ but the lock the
// caller holds. The caller has seen no config there, so these are the
// remains of an interrupted create (keysets and groups written before the
// config) or of an interrupted delete (which removes the config first).
func (r *Registry) removeLeftovers(ctx context.Context, cluster string) error {
	objs, err := r.store.List(ctx, cluster+"/")
	if err != nil {
		return fmt.Errorf("list leftovers of %s: %w", cluster, err)
	}
	var groups []string
	perDir := map[string]int{}
	for _, o := range objs {
		if o.Key == LockKey(cluster) {
			continue
		}
		if err := r.store.Delete(ctx, o.Key, state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("remove %s, left by an interrupted create or delete of %s: %w", o.Key, cluster, err)
		}
		rel := strings.TrimPrefix(o.Key, cluster+"/")
		if g, ok := strings.CutPrefix(rel, dirInstanceGroups+"/"); ok {
			groups = append(groups, g)
			continue
		}
		dir, _, _ := strings.Cut(rel, "/")
		perDir[dir]++
	}
	if len(groups) == 0 && len(perDir) == 0 {
		return nil
	}
	// Groups by name (they are what a retry must not adopt); the rest,
	// which may be a long tail of backups, counted per directory.
	var other []string
	for _, dir := range slices.Sorted(maps.Keys(perDir)) {
		other = append(other, fmt.Sprintf("%s (%d)", dir, perDir[dir]))
	}
	slog.Warn("removed the leftovers of an interrupted create or delete before creating the cluster",
		"cluster", cluster, "instanceGroups", strings.Join(groups, ","), "other", strings.Join(other, ", "))
	return nil
}
