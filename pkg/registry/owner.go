package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/hullproject/hull/pkg/state"
)

// NewClusterID makes the identity a cluster keeps for life: a random UUID,
// so two stores that hold a cluster of the same name never share one.
func NewClusterID() string { return string(uuid.NewUUID()) }

// ClusterID reads the cluster's identity; "" when the cluster was created by
// a hull that did not record one.
func (r *Registry) ClusterID(ctx context.Context, cluster string) (string, error) {
	data, _, err := r.store.Get(ctx, ClusterIDKey(cluster))
	if errors.Is(err, state.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read identity of cluster %s: %w", cluster, err)
	}
	id := strings.TrimSpace(string(data))
	if id == "" {
		return "", fmt.Errorf("identity of cluster %s (%s) is empty; delete that object and run the command again to give the cluster a new identity", cluster, ClusterIDKey(cluster))
	}
	return id, nil
}

// EnsureClusterID returns the cluster's identity, recording a new one for a
// cluster created before hull kept identities. The write is conditional, so
// two commands racing to record one agree on the winner's.
func (r *Registry) EnsureClusterID(ctx context.Context, cluster string) (string, error) {
	id, err := r.ClusterID(ctx, cluster)
	if err != nil || id != "" {
		return id, err
	}
	id = NewClusterID()
	_, err = r.store.Put(ctx, ClusterIDKey(cluster), []byte(id+"\n"), state.MustNotExist())
	if errors.Is(err, state.ErrConflict) {
		return r.ClusterID(ctx, cluster)
	}
	if err != nil {
		return "", fmt.Errorf("record identity of cluster %s: %w", cluster, err)
	}
	return id, nil
}
