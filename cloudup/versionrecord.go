package cloudup

import (
	"context"
	"errors"
	"fmt"
	"path"

	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/pkg/state"
)

// versionRecord keeps, per instance group, the Kubernetes versions its
// machines may run: the cloud knows which launch config a machine came
// from, but a replaced launch config's version is gone with it, and the
// version-skew rules need the versions of machines not rolled yet.
type versionRecord struct {
	Groups map[string][]string `json:"groups"`
}

// VersionRecordKey is where the record lives (docs/state-store.md).
func VersionRecordKey(cluster string) string { return path.Join(cluster, "kubernetes-versions.yaml") }

// readVersionRecord returns the record; an empty one when there is none.
func readVersionRecord(ctx context.Context, store *state.Store, cluster string) (versionRecord, error) {
	rec := versionRecord{Groups: map[string][]string{}}
	data, _, err := store.Get(ctx, VersionRecordKey(cluster))
	if errors.Is(err, state.ErrNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read %s: %w", VersionRecordKey(cluster), err)
	}
	if err := yaml.UnmarshalStrict(data, &rec); err != nil {
		return rec, fmt.Errorf("parse %s: %w", VersionRecordKey(cluster), err)
	}
	if rec.Groups == nil {
		rec.Groups = map[string][]string{}
	}
	return rec, nil
}

// writeVersionRecord replaces the record. Update holds the cluster's lease
// while it writes, so no other writer races it.
func writeVersionRecord(ctx context.Context, store *state.Store, cluster string, rec versionRecord) error {
	data, err := yaml.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", VersionRecordKey(cluster), err)
	}
	if _, err := store.Put(ctx, VersionRecordKey(cluster), data, state.Unconditional()); err != nil {
		return fmt.Errorf("write %s: %w", VersionRecordKey(cluster), err)
	}
	return nil
}
