package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/control"
)

// Supervisor starts and stops this machine's etcd member. nodeup implements
// it over the process it supervises (systemd unit or local supervisor);
// tests implement it over an embedded etcd.
type Supervisor interface {
	// Start runs etcd with the member's usual flags, overridden by opts.
	// It returns once etcd was launched; the manager checks readiness.
	Start(ctx context.Context, opts StartOptions) error
	// Stop stops etcd and keeps it stopped (no restart by the supervisor)
	// until the next Start. Stopping a stopped etcd succeeds.
	Stop(ctx context.Context) error
}

// StartOptions override the member's usual flags for one start. The zero
// value starts the member normally on its own data dir.
type StartOptions struct {
	// InitialCluster, ClusterState ("new" or "existing") and ClusterToken
	// are etcd's --initial-cluster* flags. They matter only when the data
	// dir is empty or freshly restored.
	InitialCluster string
	ClusterState   string
	ClusterToken   string
}

// Node is what a manager needs to restore its own member.
type Node struct {
	Supervisor Supervisor
	// DataDir is the member's --data-dir. A restore moves it aside to
	// <DataDir>.pre-restore-<id> (kept until the next restore, and put back
	// by a roll-back) and builds the new one beside it.
	DataDir string
	// ClientURL reaches the local member only; TLS configures that client.
	ClientURL string
	TLS       *tls.Config
	// TempDir receives downloaded snapshots (the system's if empty).
	TempDir string
}

// localClient connects to this member alone.
func (n *Node) localClient() (*clientv3.Client, error) {
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL}, TLS: n.TLS, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to the local etcd member at %s: %w", n.ClientURL, err)
	}
	return cl, nil
}

func (n *Node) preRestoreDir(id string) string { return n.DataDir + ".pre-restore-" + id }
func (n *Node) restoreDir(id string) string    { return n.DataDir + ".restore-" + id }

// moveDataAside moves the data dir to its pre-restore place, once: if that
// was done already, whatever is at DataDir now is a leftover of this
// restore and is removed. Pre-restore dirs of earlier restores are removed.
func (n *Node) moveDataAside(id string) error {
	pre := n.preRestoreDir(id)
	old, _ := filepath.Glob(n.DataDir + ".pre-restore-*")
	for _, p := range old {
		if p != pre {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("remove the data of an earlier restore: %w", err)
			}
		}
	}
	if exists(pre) {
		return os.RemoveAll(n.DataDir)
	}
	if !exists(n.DataDir) {
		return os.MkdirAll(pre, 0o700) // nothing to keep, but remember we were here
	}
	if err := os.Rename(n.DataDir, pre); err != nil {
		return fmt.Errorf("move etcd data aside: %w", err)
	}
	return nil
}

// putDataBack undoes moveDataAside.
func (n *Node) putDataBack(id string) error {
	if err := os.RemoveAll(n.restoreDir(id)); err != nil {
		return fmt.Errorf("remove restored etcd data: %w", err)
	}
	pre := n.preRestoreDir(id)
	if !exists(pre) {
		return nil // never moved
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		return fmt.Errorf("remove restored etcd data: %w", err)
	}
	if empty(pre) {
		return os.Remove(pre)
	}
	if err := os.Rename(pre, n.DataDir); err != nil {
		return fmt.Errorf("put the old etcd data back: %w", err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func empty(p string) bool {
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) == 0
}

func removeFile(p string) { _ = os.Remove(p) }

// actAsMember does this member's part of a restore command's current
// phase and reports whether it did something. A member that was away
// during a roll-back (its machine down) does its part once it is back,
// even though the command failed meanwhile.
func (m *Manager) actAsMember(ctx context.Context, cmd *control.Restore) bool {
	me := cmd.Member(m.cfg.Member)
	if me == nil || m.cfg.Node == nil {
		return false
	}
	node := m.cfg.Node
	var next control.MemberState
	var actErr error
	switch {
	case cmd.Phase == control.Stopping && me.State == control.MemberRunning:
		m.log.Info("restore: stopping etcd", "restore", cmd.ID)
		actErr = node.Supervisor.Stop(ctx)
		next = control.MemberStopped
	case cmd.Phase == control.Joining && me.State == control.MemberJoining:
		m.log.Info("restore: joining the restored cluster with empty data", "restore", cmd.ID)
		actErr = node.moveDataAside(cmd.ID)
		if actErr == nil {
			actErr = node.Supervisor.Start(ctx, StartOptions{InitialCluster: me.InitialCluster, ClusterState: "existing", ClusterToken: cmd.ClusterToken})
		}
		next = control.MemberJoined
	case cmd.Phase == control.RollingBack && me.State != control.MemberRolledBack,
		cmd.Phase == control.Failed && me.State.OwesRollBack():
		next = control.MemberRolledBack
		if me.State == control.MemberRunning {
			break // never stopped: etcd still runs its old data
		}
		m.log.Warn("restore: rolling back to the old etcd data", "restore", cmd.ID)
		if err := node.Supervisor.Stop(ctx); err != nil {
			m.log.Warn("restore: stop before roll-back", "err", err)
		}
		actErr = node.putDataBack(cmd.ID)
		if actErr == nil {
			actErr = node.Supervisor.Start(ctx, StartOptions{})
		}
	default:
		return false
	}
	_, err := control.Update(ctx, m.cfg.Store, control.RestoreKey(cmd.Cluster, cmd.EtcdCluster, cmd.ID), func(r *control.Restore) error {
		// The state is recorded even if the phase moved on meanwhile (to a
		// roll-back): it is a fact about this member that the roll-back needs.
		mm := r.Member(m.cfg.Member)
		if mm == nil {
			return control.ErrNoChange
		}
		now := m.cfg.Now()
		if actErr != nil {
			mm.State, mm.Message = control.MemberFailed, actErr.Error()
			if next == control.MemberRolledBack {
				mm.State = control.MemberRollBackFailed
			}
			r.Log(now, "member %s failed: %v", m.cfg.Member, actErr)
			return nil
		}
		mm.State, mm.Message = next, ""
		if r.Phase == control.Failed {
			r.Log(now, "member %s, away during the roll-back, is back: etcd runs on its old data again", m.cfg.Member)
			return nil
		}
		r.Log(now, "member %s: %s", m.cfg.Member, describe(next))
		return nil
	})
	if err != nil {
		m.log.Error("restore: report member state", "restore", cmd.ID, "err", err)
	}
	return true
}

func describe(s control.MemberState) string {
	switch s {
	case control.MemberStopped:
		return "etcd stopped"
	case control.MemberJoined:
		return "etcd started, joining the restored cluster"
	case control.MemberRolledBack:
		return "etcd running on its old data again"
	}
	return strings.ToLower(string(s))
}

// waitHealthy waits until a linearizable read through client succeeds.
func waitHealthy(ctx context.Context, client *clientv3.Client, timeout time.Duration) error {
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		_, lastErr = client.Get(rctx, "health")
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("etcd not healthy: %w", errors.Join(err, lastErr))
	}
	return nil
}

func removeAll(p string) error {
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move restored etcd data into place: %w", err)
	}
	return nil
}
