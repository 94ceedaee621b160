package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// threeZones is sample's cluster spread over three zones, as
// `--zones local-a,local-b,local-c` would make it: more groups than sample.
func threeZones(t *testing.T) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) {
	c, igs := sample(t)
	for _, base := range []*v1alpha1.InstanceGroup{igs[0], igs[1]} {
		for _, zone := range []string{"b", "c"} {
			ig := *base
			ig.Metadata.Name = strings.TrimSuffix(base.Metadata.Name, "a") + zone
			igs = append(igs, &ig)
		}
	}
	return c, igs
}

// contents maps every key under the cluster's prefix to its bytes.
func contents(t *testing.T, s *state.Store, cluster string) map[string]string {
	t.Helper()
	ctx := context.Background()
	objs, err := s.List(ctx, cluster+"/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range objs {
		data, _, err := s.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = string(data)
	}
	return out
}

// want is what a successful create of (c, igs, keysets) leaves, lock aside.
func want(t *testing.T, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, keysets []*pki.Keyset) map[string]string {
	t.Helper()
	objs, err := clusterObjects(c, igs, keysets)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range objs {
		out[o.Key] = string(o.Data)
	}
	return maskID(out, c.Metadata.Name)
}

// withoutLock drops the lock object and masks the cluster identity, which
// is random (see maskID).
func withoutLock(m map[string]string, cluster string) map[string]string {
	delete(m, LockKey(cluster))
	return maskID(m, cluster)
}

// maskID replaces a well-formed identity by a placeholder, so contents
// compare; a missing or malformed one stays as it is and shows in a diff.
func maskID(m map[string]string, cluster string) map[string]string {
	if id, ok := m[ClusterIDKey(cluster)]; ok && len(strings.TrimSpace(id)) == 36 {
		m[ClusterIDKey(cluster)] = "<cluster id>"
	}
	return m
}

// The last write of a create (the config) fails: what was written before
// it is rolled back, lock included, and the store is as before.
func TestCreateRollsBackWhenConfigWriteFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		c, igs := sample(t)
		name := c.Metadata.Name
		faulty := New(r.Store().WithFault(statetest.FailPut(ConfigKey(name))))
		err := faulty.CreateCluster(ctx, c, igs, keysets(t, c))
		if !errors.Is(err, statetest.ErrInjected) || !strings.Contains(err.Error(), "nothing was kept") {
			t.Fatalf("create with a failing config write: %v", err)
		}
		if left := contents(t, r.Store(), name); len(left) != 0 {
			t.Errorf("left behind: %v", keys(left))
		}
		if names, err := r.ListClusters(ctx); err != nil || len(names) != 0 {
			t.Errorf("clusters = %v, %v", names, err)
		}
	})
}

// A create killed after its groups were written (no config, no rollback)
// leaves groups of a three-zone shape; a create with one zone removes them
// rather than adopting them, and keeps the lock object.
func TestCreateRemovesLeftoversOfKilledCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		oldC, oldIGs := threeZones(t)
		name := oldC.Metadata.Name
		objs, err := clusterObjects(oldC, oldIGs, keysets(t, oldC))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs[:len(objs)-1] { // all but the config
			if _, err := r.Store().Put(ctx, o.Key, o.Data, state.Unconditional()); err != nil {
				t.Fatal(err)
			}
		}

		c, igs := sample(t)
		ks := keysets(t, c)
		if err := r.CreateCluster(ctx, c, igs, ks); err != nil {
			t.Fatal(err)
		}
		got := contents(t, r.Store(), name)
		for _, o := range objs {
			if o.Key == ClusterIDKey(name) && got[o.Key] == string(o.Data) {
				t.Errorf("the killed create's identity %q was kept; a new cluster needs a new one", o.Data)
			}
		}
		if _, ok := got[LockKey(name)]; !ok {
			t.Errorf("lock object %s was removed", LockKey(name))
		}
		if diff := cmp.Diff(want(t, c, igs, ks), withoutLock(got, name)); diff != "" {
			t.Errorf("objects after create (-want +got):\n%s", diff)
		}
		gotIGs, err := r.ListInstanceGroups(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(igs, gotIGs); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
	})
}

// A create is killed after each of its writes and deletes in turn, while
// it is removing an older create's leftovers or writing its own; a re-run
// with another shape then yields exactly the new cluster, every time.
func TestCreateConvergesAfterKillAtAnyPoint(t *testing.T) {
	ctx := context.Background()
	oldC, oldIGs := threeZones(t)
	name := oldC.Metadata.Name
	oldKeysets := keysets(t, oldC)
	oldObjs, err := clusterObjects(oldC, oldIGs, oldKeysets)
	if err != nil {
		t.Fatal(err)
	}
	c, igs := sample(t)
	ks := keysets(t, c)

	// Leftovers of a still older create, and a backup of a killed delete.
	seed := func(t *testing.T, s *state.Store) {
		for _, key := range []string{InstanceGroupKey(name, "nodes-z"), name + "/backups/etcd/main/20260101T000000Z/etcd.backup.gz"} {
			if _, err := s.Put(ctx, key, []byte("stale"), state.Unconditional()); err != nil {
				t.Fatal(err)
			}
		}
	}
	const leftovers = 2
	total := leftovers + len(oldObjs)
	for n := 0; n <= total; n++ {
		t.Run(fmt.Sprintf("killed-after-%d", n), func(t *testing.T) {
			s, err := state.Open(ctx, statetest.FileURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			seed(t, s)
			death := &statetest.Death{N: n, Spare: func(key string) bool { return key == LockKey(name) }}
			err = New(s.WithFault(death.Fault)).CreateCluster(ctx, oldC, oldIGs, oldKeysets)
			if n < total && !errors.Is(err, statetest.ErrInjected) {
				t.Fatalf("killed create: %v", err)
			}
			if n == total && err != nil {
				t.Fatalf("create that was not killed: %v", err)
			}
			if n == total {
				return // the old shape exists; nothing to converge
			}
			if err := New(s).CreateCluster(ctx, c, igs, ks); err != nil {
				t.Fatalf("re-run: %v", err)
			}
			if diff := cmp.Diff(want(t, c, igs, ks), withoutLock(contents(t, s, name), name)); diff != "" {
				t.Errorf("objects after re-run (-want +got):\n%s", diff)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Creating a group that already exists fails and leaves the existing group
// alone, even though it holds the very bytes this create meant to write:
// the refused write was never ours to roll back.
func TestCreateExistingGroupKeepsIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		c, igs := sample(t)
		name := c.Metadata.Name
		if err := r.CreateCluster(ctx, c, igs, keysets(t, c)); err != nil {
			t.Fatal(err)
		}
		before := contents(t, r.Store(), name)
		err := r.CreateInstanceGroups(ctx, name, igs[:1])
		if !errors.Is(err, state.ErrConflict) {
			t.Fatalf("create of an existing group = %v, want a conflict", err)
		}
		if diff := cmp.Diff(withoutLock(before, name), withoutLock(contents(t, r.Store(), name), name)); diff != "" {
			t.Errorf("store changed by a refused create (-before +after):\n%s", diff)
		}
	})
}
