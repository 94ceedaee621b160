package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
)

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
		objs = append(objs, object{"instance group " + ig.Metadata.Name, state.Object{Key: InstanceGroupKey(cluster, ig.Metadata.Name), Data: data, Pre: state.MustNotExist()}})
	}
	return r.WithLock(ctx, cluster, func(ctx context.Context) error {
		return r.putAll(ctx, objs, fmt.Sprintf("remove each with `hull delete instancegroup IG --name %s --yes`", cluster))
	})
}

// object is one write of a multi-object create, named for messages.
type object struct {
	what string // "keyset kubernetes-ca"
	state.Object
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
			object{"keyset " + ks.Name, state.Object{Key: PrivateKeysetKey(name, ks.Name), Data: priv, Pre: state.Unconditional()}},
			object{"keyset " + ks.Name, state.Object{Key: IssuedKeysetKey(name, ks.Name), Data: pub, Pre: state.Unconditional()}})
	}
	// A new identity: this cluster owns nothing in any cloud yet.
	objs = append(objs, object{"cluster identity", state.Object{Key: ClusterIDKey(name), Data: []byte(NewClusterID() + "\n"), Pre: state.Unconditional()}})
	for _, ig := range igs {
		data, err := codec.Encode(ig)
		if err != nil {
			return nil, err
		}
		objs = append(objs, object{"instance group " + ig.Metadata.Name, state.Object{Key: InstanceGroupKey(name, ig.Metadata.Name), Data: data, Pre: state.Unconditional()}})
	}
	data, err := codec.Encode(c)
	if err != nil {
		return nil, err
	}
	return append(objs, object{"cluster " + name, state.Object{Key: ConfigKey(name), Data: data, Pre: state.MustNotExist()}}), nil
}

// putAll writes objs with state.PutAll, all or nothing, and says in the
// error what was kept: nothing, or the objects the roll-back had to leave,
// with leftHint telling the user what to do with them.
func (r *Registry) putAll(ctx context.Context, objs []object, leftHint string) error {
	writes := make([]state.Object, len(objs))
	for i, o := range objs {
		writes[i] = o.Object
	}
	err := state.PutAll(ctx, r.store, writes)
	var pe *state.PutAllError
	if !errors.As(err, &pe) {
		return err
	}
	err = fmt.Errorf("write %s: %w", objs[pe.Index].what, pe.Err)
	if len(pe.Left) == 0 {
		return fmt.Errorf("%w; nothing was kept", err)
	}
	var left []string
	for _, u := range pe.Left {
		slog.Warn("roll back failed create", "object", writes[u.Index].Key, "err", u.Err)
		left = append(left, writes[u.Index].Key)
	}
	return fmt.Errorf("%w; rolling back left %s behind (%s)", err, strings.Join(left, ", "), leftHint)
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
