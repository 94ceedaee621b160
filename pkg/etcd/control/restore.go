package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// Phase is where a restore command stands. The coordinator (the backup
// leader that claimed the command, or the manager that took it over when
// the coordinator went silent) moves it forward; every member acts on the
// phase and reports its own state in the command.
type Phase string

// The restore protocol, in order. Failed and Succeeded are final.
const (
	// Pending: written by `hull backup restore`; the backup leader claims it
	// and verifies the snapshot's sha256. A mismatch fails the command
	// before anything is stopped.
	Pending Phase = "Pending"
	// Stopping: every member stops its etcd and reports Stopped.
	Stopping Phase = "Stopping"
	// Restoring: the coordinator moves its data dir aside, restores the
	// snapshot as a one-member cluster with a fresh token (fresh cluster id)
	// and starts it.
	Restoring Phase = "Restoring"
	// Joining: the coordinator adds the other members one at a time; each
	// moves its old data aside and starts empty, joining the new cluster.
	Joining Phase = "Joining"
	// BackingUp: the coordinator takes a fresh backup of the restored cluster.
	BackingUp Phase = "BackingUp"
	// RollingBack: something failed after etcd was stopped; every member
	// puts its old data dir back and restarts etcd on it.
	RollingBack Phase = "RollingBack"
	Succeeded   Phase = "Succeeded"
	// Failed: the restore did not happen. A member that was away during
	// the roll-back (see Restore.Unsettled) rolls back when it is back; the
	// command stays in the control directory until then.
	Failed Phase = "Failed"
)

// Final reports whether the phase ends the command.
func (p Phase) Final() bool { return p == Succeeded || p == Failed }

// MemberState is what one member reports during a restore.
type MemberState string

// Member states.
const (
	MemberRunning    MemberState = ""           // not touched yet
	MemberStopped    MemberState = "Stopped"    // etcd stopped, old data intact
	MemberRestored   MemberState = "Restored"   // (coordinator) runs the restored data
	MemberJoining    MemberState = "Joining"    // asked to join the restored cluster
	MemberJoined     MemberState = "Joined"     // runs as a member of the restored cluster
	MemberRolledBack MemberState = "RolledBack" // runs its old data again
	MemberFailed     MemberState = "Failed"     // a step before any roll-back failed
	// MemberRollBackFailed: putting the old data back or starting etcd on
	// it failed. Retried while the command rolls back; after that a human
	// must look.
	MemberRollBackFailed MemberState = "RollBackFailed"
)

// Member is one etcd member taking part in a restore.
type Member struct {
	Name      string      `json:"name"`
	PeerURL   string      `json:"peerURL"`
	ClientURL string      `json:"clientURL"`
	State     MemberState `json:"state,omitempty"`
	// InitialCluster is set by the coordinator when it asks the member to join.
	InitialCluster string `json:"initialCluster,omitempty"`
	Message        string `json:"message,omitempty"`
}

// Step is one line of a restore's progress, for the CLI to print.
type Step struct {
	Time    time.Time `json:"time"`
	Phase   Phase     `json:"phase"`
	Message string    `json:"message"`
}

// Restore is a restore command and its progress.
type Restore struct {
	ID          string    `json:"id"`
	Cluster     string    `json:"cluster"`
	EtcdCluster string    `json:"etcdCluster"`
	Backup      string    `json:"backup"`
	RequestedBy string    `json:"requestedBy,omitempty"`
	Created     time.Time `json:"created"`

	Phase        Phase     `json:"phase"`
	PhaseStarted time.Time `json:"phaseStarted"`
	// Coordinator is the member whose manager drives the command.
	Coordinator string `json:"coordinator,omitempty"`
	// Heartbeat is the coordinator's last sign of life, renewed while it
	// drives the command. A manager that sees it unchanged for the step
	// timeout takes the command over and rolls the restore back.
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	// ClusterToken is the fresh --initial-cluster-token of the restored cluster.
	ClusterToken string   `json:"clusterToken,omitempty"`
	Members      []Member `json:"members,omitempty"`
	Steps        []Step   `json:"steps,omitempty"`
	// Error says why the command failed.
	Error string `json:"error,omitempty"`
	// FreshBackup names the backup taken right after the restore.
	FreshBackup string `json:"freshBackup,omitempty"`
}

// OwesRollBack reports whether a member in this state stopped or changed
// its etcd for the restore: if the restore fails, it must still put its
// old data back and start etcd on it.
func (s MemberState) OwesRollBack() bool {
	switch s {
	case MemberStopped, MemberRestored, MemberJoining, MemberJoined, MemberFailed:
		return true
	}
	return false
}

// Unsettled names the members of a failed command that have not put their
// old data back yet (they were away during the roll-back). A command is
// kept, not archived, until none are left, so that a member that comes
// back still finds its part to do.
func (r *Restore) Unsettled() []string {
	if r.Phase != Failed {
		return nil
	}
	var out []string
	for _, m := range r.Members {
		if m.State.OwesRollBack() {
			out = append(out, m.Name)
		}
	}
	return out
}

// Member returns the named member of the command, or nil.
func (r *Restore) Member(name string) *Member {
	for i := range r.Members {
		if r.Members[i].Name == name {
			return &r.Members[i]
		}
	}
	return nil
}

// SetPhase moves the command to p and records a step.
func (r *Restore) SetPhase(p Phase, now time.Time, format string, args ...any) {
	r.Phase, r.PhaseStarted = p, now.UTC()
	r.Log(now, format, args...)
}

// Log records a progress step in the current phase.
func (r *Restore) Log(now time.Time, format string, args ...any) {
	r.Steps = append(r.Steps, Step{Time: now.UTC(), Phase: r.Phase, Message: fmt.Sprintf(format, args...)})
}

// ListRestores returns the restore commands waiting or running, oldest
// first, and apart those that cannot be read or decoded: a damaged command
// can be driven by nobody, and must not stop the others.
func ListRestores(ctx context.Context, store *state.Store, cluster, etcdCluster string) ([]*Restore, []Damaged, error) {
	return list[Restore](ctx, store, cluster, etcdCluster, "restore", RestoreKey)
}

// GetRestore reads a restore command wherever it is: running, or finished
// and moved to the history.
func GetRestore(ctx context.Context, store *state.Store, cluster, etcdCluster, id string) (*Restore, error) {
	r, _, err := Get[Restore](ctx, store, RestoreKey(cluster, etcdCluster, id))
	if errors.Is(err, state.ErrNotFound) {
		r, _, err = Get[Restore](ctx, store, RestoreHistoryKey(cluster, etcdCluster, id))
	}
	if err != nil {
		return nil, fmt.Errorf("read restore command %s: %w", id, err)
	}
	return r, nil
}

// ArchiveRestore moves a finished command to the history: the history copy
// is written first, then the command removed, so the CLI always finds it.
func ArchiveRestore(ctx context.Context, store *state.Store, r *Restore) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode restore command %s: %w", r.ID, err)
	}
	if _, err := store.Put(ctx, RestoreHistoryKey(r.Cluster, r.EtcdCluster, r.ID), data, state.Unconditional()); err != nil {
		return fmt.Errorf("archive restore command %s: %w", r.ID, err)
	}
	if err := store.Delete(ctx, RestoreKey(r.Cluster, r.EtcdCluster, r.ID), state.Unconditional()); err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("remove restore command %s: %w", r.ID, err)
	}
	return nil
}

// CreateRestores writes the restore commands of one `hull backup restore`
// (one per etcd cluster) all or nothing with state.PutAll: if one cannot be
// written, those already written are withdrawn, so etcd main is never
// restored without etcd events. A command a manager claimed in the meantime
// cannot be withdrawn (its generation changed); the error says which
// restore goes on.
func CreateRestores(ctx context.Context, store *state.Store, cmds []*Restore) error {
	objs := make([]state.Object, len(cmds))
	for i, cmd := range cmds {
		data, err := json.MarshalIndent(cmd, "", "  ")
		if err != nil {
			return fmt.Errorf("encode the restore command for etcd %s: %w", cmd.EtcdCluster, err)
		}
		objs[i] = state.Object{Key: RestoreKey(cmd.Cluster, cmd.EtcdCluster, cmd.ID), Data: data, Pre: state.MustNotExist()}
	}
	err := state.PutAll(ctx, store, objs)
	var pe *state.PutAllError
	if !errors.As(err, &pe) {
		return err
	}
	err = fmt.Errorf("write the restore command for etcd %s: %w", cmds[pe.Index].EtcdCluster, pe.Err)
	if len(pe.Left) == 0 {
		return fmt.Errorf("%w; nothing was restored", err)
	}
	var left []string
	for _, u := range pe.Left {
		cmd := cmds[u.Index]
		left = append(left, fmt.Sprintf("etcd %s (command %s: %v)", cmd.EtcdCluster, cmd.ID, u.Err))
	}
	return fmt.Errorf("%w; the restore of %s could not be withdrawn and goes on: watch it with `hull backup list`", err, strings.Join(left, ", "))
}
