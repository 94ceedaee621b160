package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
)

// A coordinator whose machine dies mid-restore leaves every member
// stopped, and only a coordinator checks step timeouts. So the coordinator
// renews a heartbeat in the command, and every other manager watches it:
// one that sees the heartbeat unchanged for StepTimeout takes the command
// over (a conditional write, so only one does) and rolls the restore back,
// naming the silent coordinator. Staleness is measured on the watcher's
// own clock, from when it first saw that heartbeat, so the machines'
// clocks need not agree.

// beatSeen is a coordinator's heartbeat as a watcher last saw it.
type beatSeen struct {
	coordinator string
	beat        time.Time
	since       time.Time // when this manager first saw this heartbeat
}

// heartbeatEvery is how often a coordinator renews its heartbeat: at least
// four times per step timeout, and not more often than it polls unless
// that is needed.
func (m *Manager) heartbeatEvery() time.Duration {
	return min(max(m.cfg.PollInterval, m.cfg.StepTimeout/8), m.cfg.StepTimeout/4)
}

func (m *Manager) setCoordinating(id string) {
	m.mu.Lock()
	m.coordinating = id
	m.mu.Unlock()
}

// heartbeat renews the heartbeat of the restore this manager coordinates
// until ctx ends. It runs beside participate, whose steps may block for
// long (a download, waiting for etcd to become healthy).
func (m *Manager) heartbeat(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		m.mu.Lock()
		id := m.coordinating
		m.mu.Unlock()
		if id == "" {
			return
		}
		key := control.RestoreKey(m.cfg.Cluster, m.cfg.EtcdCluster, id)
		_, err := control.Update(ctx, m.cfg.Store, key, func(r *control.Restore) error {
			if r.Coordinator != m.cfg.Member || r.Phase.Final() {
				return control.ErrNoChange
			}
			r.Heartbeat = m.cfg.Now().UTC()
			return nil
		})
		if err != nil && !errors.Is(err, state.ErrNotFound) && ctx.Err() == nil {
			m.log.Warn("restore: renew the coordinator's heartbeat", "restore", id, "err", err)
		}
	}, m.heartbeatEvery())
}

// watchCoordinator takes cmd over when its coordinator's heartbeat has not
// changed for StepTimeout.
func (m *Manager) watchCoordinator(ctx context.Context, cmd *control.Restore) {
	if m.cfg.Node == nil || cmd.Coordinator == "" || cmd.Coordinator == m.cfg.Member {
		return
	}
	now := m.cfg.Now()
	seen, ok := m.beats[cmd.ID]
	if !ok || seen.coordinator != cmd.Coordinator || !seen.beat.Equal(cmd.Heartbeat) {
		m.beats[cmd.ID] = beatSeen{coordinator: cmd.Coordinator, beat: cmd.Heartbeat, since: now}
		return
	}
	if now.Sub(seen.since) <= m.cfg.StepTimeout {
		return
	}
	if err := m.takeOver(ctx, cmd.ID, seen, now.Sub(seen.since)); err != nil {
		m.log.Error("restore: take over from a silent coordinator", "restore", cmd.ID, "coordinator", seen.coordinator, "err", err)
	}
}

// takeOver makes this manager the coordinator of a command whose
// coordinator went silent, provided nobody changed the command meanwhile.
// What it does depends on how far the restore got:
//   - Pending: nothing was stopped; the command fails.
//   - BackingUp: every member runs the restored cluster; the restore is
//     complete but for the fresh backup, which the next scheduled one
//     covers.
//   - RollingBack: this manager sees the roll-back through.
//   - otherwise: members are stopped or half-restored; every member rolls
//     back to its old data.
func (m *Manager) takeOver(ctx context.Context, id string, seen beatSeen, silent time.Duration) error {
	took := false
	var phase control.Phase
	key := control.RestoreKey(m.cfg.Cluster, m.cfg.EtcdCluster, id)
	_, err := control.Update(ctx, m.cfg.Store, key, func(r *control.Restore) error {
		if r.Phase.Final() || r.Coordinator != seen.coordinator || !r.Heartbeat.Equal(seen.beat) {
			return control.ErrNoChange
		}
		now, me := m.cfg.Now(), m.cfg.Member
		took, phase = true, r.Phase
		r.Coordinator, r.Heartbeat = me, now.UTC()
		cause := fmt.Sprintf("coordinator %s went silent (no heartbeat for %s) during %s", seen.coordinator, silent.Round(time.Second), r.Phase)
		switch r.Phase {
		case control.Pending:
			r.Error = cause + "; nothing was stopped"
			r.SetPhase(control.Failed, now, "restore failed: %s; %s took the command over: nothing was stopped, etcd keeps running on its current data", cause, me)
		case control.BackingUp:
			r.Log(now, "%s; %s took the command over", cause, me)
			r.SetPhase(control.Succeeded, now, "restore of %s complete: every member runs the restored data with a new cluster id; no fresh backup was taken (the next scheduled backup covers it)", r.Backup)
		case control.RollingBack:
			r.PhaseStarted = now.UTC()
			r.Log(now, "%s; %s took the roll-back over", cause, me)
		default:
			r.Error = cause
			r.SetPhase(control.RollingBack, now, "restore failed: %s; %s took the command over; every member goes back to its old data", cause, me)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("take over restore %s: %w", id, err)
	}
	if took {
		m.log.Warn("restore: took the command over from a silent coordinator", "restore", id, "coordinator", seen.coordinator, "phase", phase, "silent", silent)
	}
	delete(m.beats, id)
	return nil
}

// settle does what is left of a final command: this member rolls back if
// it was away during the roll-back; once no member owes a roll-back, the
// command is archived.
func (m *Manager) settle(ctx context.Context, cmd *control.Restore) {
	if m.actAsMember(ctx, cmd) {
		cur, _, err := control.Get[control.Restore](ctx, m.cfg.Store, control.RestoreKey(cmd.Cluster, cmd.EtcdCluster, cmd.ID))
		if err != nil {
			if !errors.Is(err, state.ErrNotFound) {
				m.log.Error("read restore command", "restore", cmd.ID, "err", err)
			}
			return
		}
		cmd = cur
	}
	if len(cmd.Unsettled()) == 0 {
		m.finish(ctx, cmd)
	}
}

// forget drops the snapshots and heartbeats kept for commands that are no
// longer running.
func (m *Manager) forget(running map[string]bool) {
	for id := range m.beats {
		if !running[id] {
			delete(m.beats, id)
		}
	}
	m.mu.Lock()
	var done []string
	for id := range m.snapshots {
		if !running[id] {
			done = append(done, id)
		}
	}
	m.mu.Unlock()
	for _, id := range done {
		m.dropSnapshot(id)
	}
}
