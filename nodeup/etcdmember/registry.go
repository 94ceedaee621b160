package etcdmember

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hullproject/hull/pkg/state"
)

// Member is one etcd member's record in the state store. There is no etcd
// manager yet: control-plane nodeups coordinate through these records.
type Member struct {
	Name       string `json:"name"`
	InstanceID string `json:"instanceID"`
	Address    string `json:"address"`
	PeerURL    string `json:"peerURL"`
	ClientURL  string `json:"clientURL"`
	// Existing is true when this member joined a running cluster (it
	// replaced another machine) rather than founding it. etcd reads
	// --initial-cluster-state only on an empty data dir, but recording it
	// keeps the manifest stable across reboots.
	Existing bool `json:"existing,omitempty"`
	// Replaced is the instance this member took over from: its Node object
	// is stale and the control plane deletes it.
	Replaced string `json:"replaced,omitempty"`
}

// Key is where a member's record lives: <cluster>/etcd/<etcd>/members/<member>.
func Key(cluster, etcdCluster, member string) string {
	return path.Join(cluster, "etcd", etcdCluster, "members", member)
}

// Registry reads and writes member records of one Kubernetes cluster.
type Registry struct {
	Store   *state.Store
	Cluster string
}

// Get returns a member's record, or state.ErrNotFound.
func (r *Registry) Get(ctx context.Context, etcdCluster, member string) (*Member, state.Generation, error) {
	data, gen, err := r.Store.Get(ctx, Key(r.Cluster, etcdCluster, member))
	if err != nil {
		return nil, "", err
	}
	var m Member
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("parse etcd member record %s: %w", Key(r.Cluster, etcdCluster, member), err)
	}
	return &m, gen, nil
}

// Put writes a record under a precondition.
func (r *Registry) Put(ctx context.Context, etcdCluster string, m *Member, pre state.Precondition) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if _, err := r.Store.Put(ctx, Key(r.Cluster, etcdCluster, m.Name), append(data, '\n'), pre); err != nil {
		return fmt.Errorf("register etcd member %s of %s: %w", m.Name, etcdCluster, err)
	}
	return nil
}

// Lookup returns the records of the named members; missing ones are
// listed separately.
func (r *Registry) Lookup(ctx context.Context, etcdCluster string, names []string) (found []*Member, missing []string, err error) {
	for _, n := range names {
		m, _, err := r.Get(ctx, etcdCluster, n)
		if errors.Is(err, state.ErrNotFound) {
			missing = append(missing, n)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		found = append(found, m)
	}
	return found, missing, nil
}

// InitialCluster renders etcd's --initial-cluster, sorted by name.
func InitialCluster(members []*Member) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, m.Name+"="+m.PeerURL)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
