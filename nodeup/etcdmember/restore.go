package etcdmember

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/restore"
)

// restoreTries is how many of the newest backups a lone member's
// replacement tries before giving up: one damaged backup must not keep the
// control plane down when an older one is good.
const restoreTries = 3

// restoreNewest fills the data dir of a lone member's replacement from the
// newest backup that verifies: the old machine took the data with it, and
// there is no other member to copy it from. With no backup at all, etcd
// starts empty, as on a new cluster. Backups whose meta is damaged are
// skipped; if every backup is damaged, etcd does not start empty (that
// would lose the cluster's data quietly): a human must look.
func (c *Cluster) restoreNewest(ctx context.Context) error {
	store, cluster := c.Registry.Store, c.Registry.Cluster
	listed, err := backup.List(ctx, store, cluster, c.Name)
	if err != nil {
		return err // names the etcd cluster already
	}
	if len(listed) == 0 {
		c.log().Warn("the lone etcd member is replaced and there is no backup: etcd starts empty", "etcd", c.Name)
		return nil
	}
	for _, b := range listed {
		if b.Damaged != "" {
			c.log().Warn("skipping a damaged etcd backup", "etcd", c.Name, "backup", b.Name, "damage", b.Damaged)
		}
	}
	all := backup.Intact(listed)
	if len(all) == 0 {
		return fmt.Errorf("restore etcd %s: all %d backups are damaged (newest: %s); refusing to start etcd empty: repair a backup's meta or remove the damaged backups", c.Name, len(listed), listed[0].Damaged)
	}
	if err := os.RemoveAll(c.DataDir); err != nil {
		return fmt.Errorf("empty etcd data dir %s: %w", c.DataDir, err)
	}
	tmp := filepath.Dir(c.DataDir) // snapshots are as large as the database
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("etcd restore: %w", err)
	}
	var errs []error
	for _, b := range all[:min(restoreTries, len(all))] {
		if err := c.restoreFrom(ctx, b, tmp); err != nil {
			c.log().Warn("cannot restore the lone etcd member from this backup; trying an older one", "etcd", c.Name, "backup", b.Name, "err", err)
			errs = append(errs, err)
			if err := os.RemoveAll(c.DataDir); err != nil {
				return fmt.Errorf("empty etcd data dir %s: %w", c.DataDir, err)
			}
			continue
		}
		c.log().Info("restored the lone etcd member from its newest backup", "etcd", c.Name, "backup", b.Name)
		return nil
	}
	return fmt.Errorf("restore etcd %s from its %d newest backups: %w", c.Name, min(restoreTries, len(all)), errors.Join(errs...))
}

func (c *Cluster) restoreFrom(ctx context.Context, b backup.Info, tmp string) error {
	snap, err := restore.Verify(ctx, c.Registry.Store, c.Registry.Cluster, c.Name, b, tmp)
	if err != nil {
		return err
	}
	defer snap.Remove()
	// A fresh token gives the restored cluster its own id.
	token := fmt.Sprintf("%s-%s-%s", c.Registry.Cluster, c.Name, c.Self.InstanceID)
	return restore.ToDataDir(snap.Path, c.DataDir, c.Self.Name, c.Self.PeerURL, c.Self.Name+"="+c.Self.PeerURL, token)
}
