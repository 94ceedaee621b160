package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/restore"
	"github.com/hullproject/hull/pkg/state"
)

// participate reads the restore commands every PollInterval and does this
// member's part, and the coordinator's part where this manager claimed the
// command. It runs whether or not this manager leads: during a restore etcd
// is down, so the protocol lives in the state store, not in etcd. It also
// watches the other coordinators' heartbeats and takes a command over when
// its coordinator has gone silent.
func (m *Manager) participate(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		cmds, damaged, err := control.ListRestores(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster)
		if err != nil {
			m.log.Error("read restore commands", "err", err)
		}
		m.warnDamagedControl(damaged)
		active, coordinating := false, false
		running := map[string]bool{}
		for _, cmd := range cmds {
			if cmd.Phase.Final() {
				m.settle(ctx, cmd)
				continue
			}
			running[cmd.ID] = true
			active = active || cmd.Coordinator != ""
			m.actAsMember(ctx, cmd)
			if cmd.Coordinator != m.cfg.Member {
				m.watchCoordinator(ctx, cmd)
				continue
			}
			coordinating = true
			m.setCoordinating(cmd.ID)
			if cur, err := control.GetRestore(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster, cmd.ID); err == nil {
				m.coordinate(ctx, cur)
			}
		}
		if !coordinating {
			m.setCoordinating("")
		}
		if err == nil {
			m.forget(running)
		}
		m.restoreActive.Store(active)
	}, m.cfg.PollInterval)
}

// claimRestore makes this leader the coordinator of the oldest pending
// restore command, unless a restore is already running. Claiming is a
// conditional write, so of two leaders (one just deposed) only one wins.
func (m *Manager) claimRestore(ctx context.Context) error {
	if m.cfg.Node == nil {
		return nil // cannot restore its own member, so cannot coordinate
	}
	// A damaged command is skipped: nobody can read it, so nobody drives
	// it, and it must not block every later restore.
	cmds, damaged, err := control.ListRestores(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster)
	if err != nil {
		return err
	}
	m.warnDamagedControl(damaged)
	for _, c := range cmds {
		if !c.Phase.Final() && c.Coordinator != "" {
			return nil // one restore at a time
		}
	}
	for _, c := range cmds {
		if c.Phase != control.Pending {
			continue
		}
		_, err := control.Update(ctx, m.cfg.Store, control.RestoreKey(c.Cluster, c.EtcdCluster, c.ID), func(r *control.Restore) error {
			if r.Coordinator != "" {
				return control.ErrNoChange
			}
			r.Coordinator, r.Heartbeat = m.cfg.Member, m.cfg.Now().UTC()
			r.Log(m.cfg.Now(), "backup leader %s claimed the restore; verifying backup %s", m.cfg.Member, r.Backup)
			return nil
		})
		if err == nil {
			m.restoreActive.Store(true)
		}
		return err
	}
	return nil
}

// coordinate moves a claimed restore command through its phases.
func (m *Manager) coordinate(ctx context.Context, cmd *control.Restore) {
	var err error
	switch cmd.Phase {
	case control.Pending:
		err = m.prepare(ctx, cmd)
	case control.Stopping:
		err = m.advanceWhen(ctx, cmd, control.MemberStopped, control.Restoring, "every member stopped etcd; restoring %s on %s", cmd.Backup, m.cfg.Member)
	case control.Restoring:
		err = m.restoreHere(ctx, cmd)
	case control.Joining:
		err = m.join(ctx, cmd)
	case control.BackingUp:
		err = m.freshBackup(ctx, cmd)
	case control.RollingBack:
		err = m.awaitRollBack(ctx, cmd)
	}
	if err != nil {
		m.log.Warn("restore step not done yet; retrying", "restore", cmd.ID, "phase", cmd.Phase, "err", err)
	}
}

// update is a conditional write of the command, skipped if another
// writer moved it out of the phase the coordinator acted on, or another
// manager took the command over.
func (m *Manager) update(ctx context.Context, cmd *control.Restore, fn func(*control.Restore)) error {
	_, err := control.Update(ctx, m.cfg.Store, control.RestoreKey(cmd.Cluster, cmd.EtcdCluster, cmd.ID), func(r *control.Restore) error {
		if r.Phase != cmd.Phase || r.Coordinator != m.cfg.Member {
			return control.ErrNoChange
		}
		fn(r)
		return nil
	})
	return err
}

// fail ends a command that has not stopped anything.
func (m *Manager) fail(ctx context.Context, cmd *control.Restore, cause error) error {
	m.log.Error("restore refused; etcd untouched", "restore", cmd.ID, "err", cause)
	return m.update(ctx, cmd, func(r *control.Restore) {
		r.Error = cause.Error()
		r.SetPhase(control.Failed, m.cfg.Now(), "restore failed before anything was stopped; etcd keeps running on its current data: %v", cause)
	})
}

// rollBack turns a failure after etcd was stopped into a roll-back.
func (m *Manager) rollBack(ctx context.Context, cmd *control.Restore, cause error) error {
	m.log.Error("restore failed; rolling back", "restore", cmd.ID, "err", cause)
	return m.update(ctx, cmd, func(r *control.Restore) {
		r.Error = cause.Error()
		r.SetPhase(control.RollingBack, m.cfg.Now(), "restore failed: %v; every member goes back to its old data", cause)
	})
}

// prepare verifies the snapshot and records the members, before anything
// is stopped; a damaged backup ends the command here.
func (m *Manager) prepare(ctx context.Context, cmd *control.Restore) error {
	all, err := backup.List(ctx, m.cfg.Store, cmd.Cluster, cmd.EtcdCluster)
	if err != nil {
		return err
	}
	b, err := backup.Find(cmd.Backup, all)
	if err != nil {
		return m.fail(ctx, cmd, err)
	}
	if err := b.DamageError(); err != nil {
		return m.fail(ctx, cmd, err)
	}
	if _, err := m.verifiedSnapshot(ctx, cmd, b); err != nil {
		if errors.Is(err, restore.ErrChecksum) {
			return m.fail(ctx, cmd, err)
		}
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 10*m.cfg.SessionTTL)
	defer cancel()
	resp, err := m.cfg.Client.MemberList(lctx)
	if err != nil {
		return fmt.Errorf("list etcd members: %w", err)
	}
	var members []control.Member
	for _, mm := range resp.Members {
		if mm.Name == "" || len(mm.PeerURLs) == 0 || len(mm.ClientURLs) == 0 {
			return m.fail(ctx, cmd, fmt.Errorf("etcd member %x has not started yet; wait until every member runs", mm.ID))
		}
		members = append(members, control.Member{Name: mm.Name, PeerURL: mm.PeerURLs[0], ClientURL: mm.ClientURLs[0]})
	}
	slices.SortFunc(members, func(a, b control.Member) int { return strings.Compare(a.Name, b.Name) })
	if !slices.ContainsFunc(members, func(x control.Member) bool { return x.Name == m.cfg.Member }) {
		return m.fail(ctx, cmd, fmt.Errorf("coordinator %s is not an etcd member", m.cfg.Member))
	}
	return m.update(ctx, cmd, func(r *control.Restore) {
		r.Members = members
		r.ClusterToken = fmt.Sprintf("hull-%s-%s-%s", cmd.Cluster, cmd.EtcdCluster, cmd.ID)
		r.SetPhase(control.Stopping, m.cfg.Now(), "backup %s verified (sha256 %s); stopping etcd on %d members", b.Name, b.Meta.SnapshotSHA256, len(members))
	})
}

// verifiedSnapshot returns the local verified snapshot for a command,
// downloading it if this process has none.
func (m *Manager) verifiedSnapshot(ctx context.Context, cmd *control.Restore, b backup.Info) (string, error) {
	m.mu.Lock()
	p, ok := m.snapshots[cmd.ID]
	m.mu.Unlock()
	if ok {
		return p, nil
	}
	snap, err := restore.Verify(ctx, m.cfg.Store, cmd.Cluster, cmd.EtcdCluster, b, m.cfg.Node.TempDir)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.snapshots[cmd.ID] = snap.Path
	m.mu.Unlock()
	return snap.Path, nil
}

// advanceWhen moves to next once every member reports want; a failed
// member, or the step timeout, rolls back.
func (m *Manager) advanceWhen(ctx context.Context, cmd *control.Restore, want control.MemberState, next control.Phase, format string, args ...any) error {
	var waiting []string
	for _, mm := range cmd.Members {
		switch mm.State {
		case want:
		case control.MemberFailed:
			return m.rollBack(ctx, cmd, fmt.Errorf("member %s: %s", mm.Name, mm.Message))
		default:
			waiting = append(waiting, mm.Name)
		}
	}
	if len(waiting) > 0 {
		if m.cfg.Now().Sub(cmd.PhaseStarted) > m.cfg.StepTimeout {
			return m.rollBack(ctx, cmd, fmt.Errorf("members %s did not report %s within %s", strings.Join(waiting, ", "), want, m.cfg.StepTimeout))
		}
		return nil
	}
	return m.update(ctx, cmd, func(r *control.Restore) { r.SetPhase(next, m.cfg.Now(), format, args...) })
}

// restoreHere builds the restored data dir as a one-member cluster with a
// fresh token, swaps it in and starts etcd on it.
func (m *Manager) restoreHere(ctx context.Context, cmd *control.Restore) error {
	node := m.cfg.Node
	me := cmd.Member(m.cfg.Member)
	err := func() error {
		all, err := backup.List(ctx, m.cfg.Store, cmd.Cluster, cmd.EtcdCluster)
		if err != nil {
			return err
		}
		b, err := backup.Find(cmd.Backup, all)
		if err != nil {
			return err
		}
		snap, err := m.verifiedSnapshot(ctx, cmd, b)
		if err != nil {
			return err
		}
		dir := node.restoreDir(cmd.ID)
		if err := removeAll(dir); err != nil {
			return err
		}
		if err := restore.ToDataDir(snap, dir, me.Name, me.PeerURL, me.Name+"="+me.PeerURL, cmd.ClusterToken); err != nil {
			return err
		}
		if err := node.moveDataAside(cmd.ID); err != nil {
			return err
		}
		if err := rename(dir, node.DataDir); err != nil {
			return err
		}
		if err := node.Supervisor.Start(ctx, StartOptions{InitialCluster: me.Name + "=" + me.PeerURL, ClusterState: "new", ClusterToken: cmd.ClusterToken}); err != nil {
			return err
		}
		cl, err := node.localClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		return waitHealthy(ctx, cl, m.cfg.StepTimeout)
	}()
	if err != nil {
		return m.rollBack(ctx, cmd, fmt.Errorf("restore on %s: %w", m.cfg.Member, err))
	}
	next, msg := control.Joining, "etcd on %s runs the restored data as a new cluster; adding the other members one by one"
	if len(cmd.Members) == 1 {
		next, msg = control.BackingUp, "etcd on %s runs the restored data as a new cluster; taking a fresh backup"
	}
	return m.update(ctx, cmd, func(r *control.Restore) {
		r.Member(m.cfg.Member).State = control.MemberRestored
		r.SetPhase(next, m.cfg.Now(), msg, m.cfg.Member)
	})
}

// join adds the next member to the restored cluster and waits for it to
// start, one member at a time so the cluster keeps its quorum.
func (m *Manager) join(ctx context.Context, cmd *control.Restore) error {
	var next *control.Member
	for i := range cmd.Members {
		mm := &cmd.Members[i]
		switch mm.State {
		case control.MemberFailed:
			return m.rollBack(ctx, cmd, fmt.Errorf("member %s: %s", mm.Name, mm.Message))
		case control.MemberRestored:
			continue
		case control.MemberJoined:
			if ok, err := m.started(ctx, mm.PeerURL); err != nil || !ok {
				return m.timeout(ctx, cmd, err, "member %s did not join the restored cluster", mm.Name)
			}
			continue
		}
		if next == nil {
			next = mm
		}
	}
	if next == nil {
		return m.update(ctx, cmd, func(r *control.Restore) {
			r.SetPhase(control.BackingUp, m.cfg.Now(), "all %d members run the restored cluster; taking a fresh backup", len(r.Members))
		})
	}
	if next.State == control.MemberJoining {
		return m.timeout(ctx, cmd, nil, "member %s did not start", next.Name)
	}
	cl, err := m.cfg.Node.localClient()
	if err != nil {
		return m.timeout(ctx, cmd, err, "cannot reach the restored etcd")
	}
	defer cl.Close()
	initial, err := addMember(ctx, cl, next)
	if err != nil {
		return m.timeout(ctx, cmd, err, "cannot add member %s", next.Name)
	}
	name := next.Name
	return m.update(ctx, cmd, func(r *control.Restore) {
		mm := r.Member(name)
		mm.State, mm.InitialCluster = control.MemberJoining, initial
		r.PhaseStarted = m.cfg.Now().UTC()
		r.Log(m.cfg.Now(), "added member %s to the restored cluster; waiting for it to start", name)
	})
}

// timeout rolls back once the phase has taken longer than StepTimeout.
func (m *Manager) timeout(ctx context.Context, cmd *control.Restore, cause error, format string, args ...any) error {
	if m.cfg.Now().Sub(cmd.PhaseStarted) <= m.cfg.StepTimeout {
		return cause
	}
	msg := fmt.Sprintf(format, args...) + " within " + m.cfg.StepTimeout.String()
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return m.rollBack(ctx, cmd, errors.New(msg))
}

// addMember adds mm unless it is a member already, and returns the
// --initial-cluster it must start with.
func addMember(ctx context.Context, cl *clientv3.Client, mm *control.Member) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cl.MemberList(ctx)
	if err != nil {
		return "", err
	}
	found := false
	var parts []string
	for _, x := range list.Members {
		name := x.Name
		if slices.Contains(x.PeerURLs, mm.PeerURL) {
			found, name = true, mm.Name
		}
		for _, u := range x.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	if !found {
		if _, err := cl.MemberAdd(ctx, []string{mm.PeerURL}); err != nil {
			return "", err
		}
		parts = append(parts, mm.Name+"="+mm.PeerURL)
	}
	slices.Sort(parts)
	return strings.Join(parts, ","), nil
}

// started reports whether the member with peerURL has started (it has
// published its name) in the restored cluster.
func (m *Manager) started(ctx context.Context, peerURL string) (bool, error) {
	cl, err := m.cfg.Node.localClient()
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cl.MemberList(ctx)
	if err != nil {
		return false, err
	}
	for _, x := range list.Members {
		if slices.Contains(x.PeerURLs, peerURL) {
			return x.Name != "", nil
		}
	}
	return false, nil
}

// freshBackup backs up the restored cluster and ends the command.
func (m *Manager) freshBackup(ctx context.Context, cmd *control.Restore) error {
	cl, err := m.cfg.Node.localClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := waitHealthy(ctx, cl, m.cfg.StepTimeout); err != nil {
		return err
	}
	info, berr := m.takeBackup(ctx, cl)
	return m.update(ctx, cmd, func(r *control.Restore) {
		now := m.cfg.Now()
		if berr != nil {
			r.Log(now, "the restore succeeded but the fresh backup failed: %v; the next scheduled backup will cover it", berr)
		} else {
			r.FreshBackup = info.Name
			r.Log(now, "fresh backup %s taken", info.Name)
		}
		r.SetPhase(control.Succeeded, now, "restore of %s complete: etcd %s runs the restored data with a new cluster id", r.Backup, r.EtcdCluster)
	})
}

// awaitRollBack fails the command once every member runs its old data,
// or after StepTimeout, naming the members that did not.
func (m *Manager) awaitRollBack(ctx context.Context, cmd *control.Restore) error {
	var silent, failed []string
	for _, mm := range cmd.Members {
		switch mm.State {
		case control.MemberRolledBack:
		case control.MemberRollBackFailed:
			failed = append(failed, fmt.Sprintf("%s (%s)", mm.Name, mm.Message))
		default:
			silent = append(silent, mm.Name)
		}
	}
	timedOut := m.cfg.Now().Sub(cmd.PhaseStarted) > m.cfg.StepTimeout
	if len(silent)+len(failed) > 0 && !timedOut {
		return nil
	}
	return m.update(ctx, cmd, func(r *control.Restore) {
		var msgs []string
		if len(failed) > 0 {
			msgs = append(msgs, fmt.Sprintf("members %s could not roll back within %s; check them", strings.Join(failed, ", "), m.cfg.StepTimeout))
		}
		if len(silent) > 0 {
			msgs = append(msgs, fmt.Sprintf("members %s did not confirm the roll-back within %s; each rolls back when its etcd manager runs again: check those machines", strings.Join(silent, ", "), m.cfg.StepTimeout))
		}
		if len(msgs) == 0 {
			msgs = []string{"every member runs its old data again"}
		}
		r.SetPhase(control.Failed, m.cfg.Now(), "restore failed (%s): %s", r.Error, strings.Join(msgs, "; "))
	})
}

// finish archives a final command and drops its snapshot. Any manager
// may: the coordinator may be gone.
func (m *Manager) finish(ctx context.Context, cmd *control.Restore) {
	if err := control.ArchiveRestore(ctx, m.cfg.Store, cmd); err != nil && !errors.Is(err, state.ErrNotFound) {
		m.log.Error("archive restore command", "restore", cmd.ID, "err", err)
		return
	}
	m.dropSnapshot(cmd.ID)
	m.log.Info("restore finished", "restore", cmd.ID, "phase", cmd.Phase, "err", cmd.Error)
}

// dropSnapshot removes the verified snapshot of a restore, if this
// manager holds one.
func (m *Manager) dropSnapshot(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.snapshots[id]; ok {
		removeFile(p)
		delete(m.snapshots, id)
	}
}
