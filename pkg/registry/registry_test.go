package registry

import (
	"context"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

func sample(t *testing.T) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) {
	t.Helper()
	data, err := os.ReadFile("../commands/testdata/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := codec.DecodeAll(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs.Clusters[0], objs.InstanceGroups
}

func keysets(t *testing.T, c *v1alpha1.Cluster) []*pki.Keyset {
	t.Helper()
	ks, err := pki.NewClusterKeysets(c.Metadata.Name, []string{"main", "events"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// forEachBackend runs fn against mem://, file:// and a real S3 server.
func forEachBackend(t *testing.T, fn func(t *testing.T, r *Registry)) {
	backends := statetest.Backends(t)
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s, err := state.Open(context.Background(), backends[name])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, New(s))
		})
	}
}

func TestCreateReadDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		c, igs := sample(t)
		if err := r.CreateCluster(ctx, c, igs, keysets(t, c)); err != nil {
			t.Fatal(err)
		}
		got, gen, err := r.GetCluster(ctx, c.Metadata.Name)
		if err != nil || gen == "" {
			t.Fatalf("get: %v (generation %q)", err, gen)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("cluster (-put +got):\n%s", diff)
		}
		gotIGs, err := r.ListInstanceGroups(ctx, c.Metadata.Name)
		if err != nil || len(gotIGs) != len(igs) {
			t.Fatalf("groups: %v, %d", err, len(gotIGs))
		}
		sets, err := r.ListKeysets(ctx, c.Metadata.Name)
		if err != nil || len(sets) != 7 {
			t.Fatalf("keysets: %v, %d", err, len(sets))
		}
		for _, ks := range sets {
			if ks.Primary.Key != nil {
				t.Errorf("issued keyset %s carries a private key", ks.Name)
			}
		}
		ca, err := r.GetPrivateKeyset(ctx, c.Metadata.Name, pki.KubernetesCA)
		if err != nil || ca.Primary.Key == nil {
			t.Fatalf("private CA: %v", err)
		}

		if err := r.DeleteCluster(ctx, c.Metadata.Name); err != nil {
			t.Fatal(err)
		}
		left, err := r.Store().List(ctx, c.Metadata.Name+"/")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("after delete: %v", left)
		}
		var nf *NotFoundError
		if _, _, err := r.GetCluster(ctx, c.Metadata.Name); !errors.As(err, &nf) || !errors.Is(err, state.ErrNotFound) {
			t.Errorf("get after delete: %v", err)
		}
	})
}

// Two operators create the same cluster at once: exactly one succeeds, and
// the cluster is the winner's, whole.
func TestConcurrentCreateOneWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		c, igs := sample(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = r.CreateCluster(ctx, c, igs, keysets(t, c))
			}()
		}
		wg.Wait()
		var ok int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, state.ErrConflict):
			default:
				if !strings.Contains(err.Error(), "already exists") {
					t.Errorf("loser's error: %v", err)
				}
			}
		}
		if ok != 1 {
			t.Fatalf("%d creates succeeded, want 1: %v", ok, errs)
		}
		names, err := r.ListClusters(ctx)
		if err != nil || !slices.Equal(names, []string{c.Metadata.Name}) {
			t.Errorf("clusters = %v, %v", names, err)
		}
	})
}

// An interrupted create leaves objects but no config: that is not a cluster.
func TestInterruptedCreateIsNotListed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry) {
		ctx := context.Background()
		_, igs := sample(t)
		if _, err := r.PutInstanceGroup(ctx, "half.example.com", igs[0], state.Unconditional()); err != nil {
			t.Fatal(err)
		}
		names, err := r.ListClusters(ctx)
		if err != nil || len(names) != 0 {
			t.Errorf("clusters = %v, %v", names, err)
		}
		var nf *NotFoundError
		if _, _, err := r.GetCluster(ctx, "half.example.com"); !errors.As(err, &nf) {
			t.Errorf("get: %v", err)
		}
		// A create after the interruption overwrites the leftovers.
		c, igs := sample(t)
		c.Metadata.Name = "half.example.com"
		for _, ig := range igs {
			ig.Metadata.Labels[v1alpha1.LabelCluster] = c.Metadata.Name
		}
		if err := r.CreateCluster(ctx, c, igs, keysets(t, c)); err != nil {
			t.Fatal(err)
		}
	})
}
