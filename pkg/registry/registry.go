package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
)

// LeaseTTL bounds how long a command that vanished on another host keeps
// others out; a dead command of this host is taken over at once.
const LeaseTTL = 2 * time.Minute

// Registry is typed access to the clusters in one state store.
type Registry struct {
	store    *state.Store
	holder   string
	leaseTTL time.Duration
}

// New wraps a store. The lease holder names this user, host and process so
// a conflict message tells the operator who holds the cluster.
func New(store *state.Store) *Registry {
	return &Registry{store: store, holder: state.Holder(), leaseTTL: LeaseTTL}
}

// ConfigBase is where a cluster lives in the store, as a URL.
func (r *Registry) ConfigBase(cluster string) string {
	u, err := url.Parse(r.store.URL())
	if err != nil {
		return r.store.URL() + "/" + cluster
	}
	u.Path = path.Join(u.Path, cluster)
	return u.String()
}

// PutCompleted writes the completed spec beside the user's.
func (r *Registry) PutCompleted(ctx context.Context, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) error {
	objs := []any{c}
	for _, ig := range igs {
		objs = append(objs, ig)
	}
	data, err := codec.EncodeAll(objs...)
	if err != nil {
		return err
	}
	if _, err := r.store.Put(ctx, CompletedKey(c.Metadata.Name), data, state.Unconditional()); err != nil {
		return fmt.Errorf("write completed spec of %s: %w", c.Metadata.Name, err)
	}
	return nil
}

// Store is the underlying state store.
func (r *Registry) Store() *state.Store { return r.store }

// NotFoundError says an object is missing and lists what does exist, so the
// operator can correct a typo without another command.
type NotFoundError struct {
	Kind     string // "cluster" or "instance group"
	Name     string
	Where    string
	Existing []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("%s %q not found in %s", e.Kind, e.Name, e.Where)
	if len(e.Existing) == 0 {
		if e.Kind == "cluster" {
			return msg + "; no clusters exist (create one with `hull create cluster NAME`)"
		}
		return msg + "; none exist"
	}
	plural := e.Kind + "s"
	return fmt.Sprintf("%s; existing %s: %s", msg, plural, strings.Join(e.Existing, ", "))
}

// Unwrap lets errors.Is(err, state.ErrNotFound) hold.
func (e *NotFoundError) Unwrap() error { return state.ErrNotFound }

// ListClusters returns the names of the clusters whose config exists, sorted.
// A prefix without config is the remains of an interrupted create, not a cluster.
func (r *Registry) ListClusters(ctx context.Context) ([]string, error) {
	dirs, err := r.store.ListDirs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	var names []string
	for _, d := range dirs {
		name := strings.TrimSuffix(d, "/")
		if _, _, err := r.store.Get(ctx, ConfigKey(name)); err == nil {
			names = append(names, name)
		} else if !errors.Is(err, state.ErrNotFound) {
			return nil, fmt.Errorf("read %s: %w", ConfigKey(name), err)
		}
	}
	slices.Sort(names)
	return names, nil
}

// GetCluster reads the user's Cluster and its generation.
func (r *Registry) GetCluster(ctx context.Context, name string) (*v1alpha1.Cluster, state.Generation, error) {
	data, gen, err := r.store.Get(ctx, ConfigKey(name))
	if errors.Is(err, state.ErrNotFound) {
		existing, lerr := r.ListClusters(ctx)
		if lerr != nil {
			return nil, "", lerr
		}
		return nil, "", &NotFoundError{Kind: "cluster", Name: name, Where: r.store.URL(), Existing: existing}
	}
	if err != nil {
		return nil, "", fmt.Errorf("read cluster %s: %w", name, err)
	}
	c, err := codec.DecodeCluster(data)
	if err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", ConfigKey(name), err)
	}
	return c, gen, nil
}

// ListInstanceGroups returns the cluster's groups sorted by name.
func (r *Registry) ListInstanceGroups(ctx context.Context, cluster string) ([]*v1alpha1.InstanceGroup, error) {
	objs, err := r.store.List(ctx, path.Join(cluster, dirInstanceGroups)+"/")
	if err != nil {
		return nil, fmt.Errorf("list instance groups of %s: %w", cluster, err)
	}
	var igs []*v1alpha1.InstanceGroup
	for _, o := range objs {
		ig, _, err := r.readInstanceGroup(ctx, o.Key)
		if errors.Is(err, state.ErrNotFound) {
			continue // deleted between list and read
		}
		if err != nil {
			return nil, err
		}
		igs = append(igs, ig)
	}
	slices.SortFunc(igs, func(a, b *v1alpha1.InstanceGroup) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return igs, nil
}

// GetInstanceGroup reads one group and its generation.
func (r *Registry) GetInstanceGroup(ctx context.Context, cluster, name string) (*v1alpha1.InstanceGroup, state.Generation, error) {
	ig, gen, err := r.readInstanceGroup(ctx, InstanceGroupKey(cluster, name))
	if errors.Is(err, state.ErrNotFound) {
		igs, lerr := r.ListInstanceGroups(ctx, cluster)
		if lerr != nil {
			return nil, "", lerr
		}
		var names []string
		for _, g := range igs {
			names = append(names, g.Metadata.Name)
		}
		return nil, "", &NotFoundError{Kind: "instance group", Name: name, Where: "cluster " + cluster, Existing: names}
	}
	return ig, gen, err
}

func (r *Registry) readInstanceGroup(ctx context.Context, key string) (*v1alpha1.InstanceGroup, state.Generation, error) {
	data, gen, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	ig, err := codec.DecodeInstanceGroup(data)
	if err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", key, err)
	}
	return ig, gen, nil
}

// ListKeysets reads the public form of every keyset of the cluster.
func (r *Registry) ListKeysets(ctx context.Context, cluster string) ([]*pki.Keyset, error) {
	objs, err := r.store.List(ctx, path.Join(cluster, dirPKIIssued)+"/")
	if err != nil {
		return nil, fmt.Errorf("list keysets of %s: %w", cluster, err)
	}
	var sets []*pki.Keyset
	for _, o := range objs {
		if path.Base(o.Key) != keysetFile {
			continue
		}
		ks, err := r.readKeyset(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		sets = append(sets, ks)
	}
	slices.SortFunc(sets, func(a, b *pki.Keyset) int { return strings.Compare(a.Name, b.Name) })
	return sets, nil
}

// GetPrivateKeyset reads a keyset with its private keys (a CA that signs).
func (r *Registry) GetPrivateKeyset(ctx context.Context, cluster, name string) (*pki.Keyset, error) {
	return r.readKeyset(ctx, PrivateKeysetKey(cluster, name))
}

func (r *Registry) readKeyset(ctx context.Context, key string) (*pki.Keyset, error) {
	data, _, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	ks, err := pki.ParseKeyset(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", key, err)
	}
	return ks, nil
}

// WithLock runs fn while holding the cluster's lease, so two mutating
// commands on one cluster never interleave their multi-object writes. If
// the lease is lost meanwhile, fn's ctx is cancelled (its next write fails)
// and the error names the lost lock.
func (r *Registry) WithLock(ctx context.Context, cluster string, fn func(ctx context.Context) error) error {
	return r.withLease(ctx, cluster, nil, fn)
}

// withLease holds the cluster's lease around fn. When remove (if not nil)
// says so for fn's result, the lease object itself is deleted on release:
// the cluster is gone, or never came to be.
func (r *Registry) withLease(ctx context.Context, cluster string, remove func(error) bool, fn func(ctx context.Context) error) (err error) {
	held, err := r.store.HoldLease(ctx, LockKey(cluster), r.holder, r.leaseTTL)
	if err != nil {
		if errors.Is(err, state.ErrConflict) {
			return fmt.Errorf("cluster %s: %w", cluster, err)
		}
		return fmt.Errorf("lock cluster %s: %w", cluster, err)
	}
	defer func() {
		err = held.WrapLost(err)
		release := held.Release
		if remove != nil && remove(err) {
			release = held.ReleaseAndDelete
		}
		if rerr := release(); rerr != nil && err == nil {
			err = fmt.Errorf("release lock of cluster %s: %w", cluster, rerr)
		}
	}()
	return fn(held.Context())
}

// PutCluster writes the user's Cluster under a precondition.
func (r *Registry) PutCluster(ctx context.Context, c *v1alpha1.Cluster, pre state.Precondition) (state.Generation, error) {
	return r.putCluster(ctx, c, pre)
}

func (r *Registry) putCluster(ctx context.Context, c *v1alpha1.Cluster, pre state.Precondition) (state.Generation, error) {
	data, err := codec.Encode(c)
	if err != nil {
		return "", err
	}
	gen, err := r.store.Put(ctx, ConfigKey(c.Metadata.Name), data, pre)
	if err != nil {
		return "", fmt.Errorf("write cluster %s: %w", c.Metadata.Name, err)
	}
	return gen, nil
}

// PutInstanceGroup writes one group under a precondition.
func (r *Registry) PutInstanceGroup(ctx context.Context, cluster string, ig *v1alpha1.InstanceGroup, pre state.Precondition) (state.Generation, error) {
	return r.putInstanceGroup(ctx, cluster, ig, pre)
}

func (r *Registry) putInstanceGroup(ctx context.Context, cluster string, ig *v1alpha1.InstanceGroup, pre state.Precondition) (state.Generation, error) {
	data, err := codec.Encode(ig)
	if err != nil {
		return "", err
	}
	gen, err := r.store.Put(ctx, InstanceGroupKey(cluster, ig.Metadata.Name), data, pre)
	if err != nil {
		return "", fmt.Errorf("write instance group %s: %w", ig.Metadata.Name, err)
	}
	return gen, nil
}

// DeleteInstanceGroup removes one group under a precondition.
func (r *Registry) DeleteInstanceGroup(ctx context.Context, cluster, name string, pre state.Precondition) error {
	if err := r.store.Delete(ctx, InstanceGroupKey(cluster, name), pre); err != nil {
		return fmt.Errorf("delete instance group %s: %w", name, err)
	}
	return nil
}

// DeleteCluster removes every object of the cluster. The config goes first,
// so an interrupted delete leaves no visible cluster, and the lease last.
// What interrupted writes left (hidden from listings, possibly private
// keys) goes too, unless a write may still be in flight.
func (r *Registry) DeleteCluster(ctx context.Context, cluster string) error {
	return r.withLease(ctx, cluster, func(err error) bool { return err == nil }, func(ctx context.Context) error {
		if err := r.store.Delete(ctx, ConfigKey(cluster), state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("delete cluster %s: %w", cluster, err)
		}
		objs, err := r.store.List(ctx, cluster+"/")
		if err != nil {
			return fmt.Errorf("list objects of %s: %w", cluster, err)
		}
		for _, o := range objs {
			if o.Key == LockKey(cluster) {
				continue
			}
			if err := r.store.Delete(ctx, o.Key, state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
				return fmt.Errorf("delete %s: %w", o.Key, err)
			}
		}
		if err := r.store.RemoveStaleTemporaries(ctx, cluster+"/"); err != nil {
			return fmt.Errorf("delete cluster %s: %w", cluster, err)
		}
		return nil
	})
}
