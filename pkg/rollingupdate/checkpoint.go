package rollingupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// CheckpointKey is where a cluster's rolling-update progress is kept.
func CheckpointKey(cluster string) string { return path.Join(cluster, "rolling-update", "state.json") }

// Machine phases in a checkpoint, in the order a machine goes through them.
const (
	PhaseStarted     = "Started"
	PhaseCordoned    = "Cordoned"
	PhaseDrained     = "Drained"
	PhaseDetached    = "Detached"
	PhaseTerminating = "Terminating"
	PhaseTerminated  = "Terminated"
	PhaseReplaced    = "Replaced"
	PhaseDone        = "Done"
	// PhaseReleased is a machine a run started but gave back (its node
	// uncordoned) without replacing it; a later run starts it afresh.
	PhaseReleased = "Released"
)

// Checkpoint is a rolling update's progress, written after every step so
// that a run killed at any point can be resumed with the same machines.
type Checkpoint struct {
	Cluster  string                    `json:"cluster"`
	Started  time.Time                 `json:"started"`
	Updated  time.Time                 `json:"updated"`
	Finished *time.Time                `json:"finished,omitempty"`
	Machines map[string]*MachineRecord `json:"machines"`
}

// MachineRecord is one machine's progress.
type MachineRecord struct {
	Group string `json:"group"`
	// Surge is true when the machine was (to be) detached, its replacement
	// launched first.
	Surge bool   `json:"surge"`
	Phase string `json:"phase"`
	// Steps are the steps completed, by name.
	Steps []string `json:"steps,omitempty"`
	// Node is the machine's node; Cordoned says this run cordoned it.
	Node     string `json:"node,omitempty"`
	Cordoned bool   `json:"cordoned,omitempty"`
	// ActionTime is when the machine was detached or terminated, so a
	// resumed run recognises its replacement (launched after it).
	ActionTime  time.Time `json:"actionTime,omitzero"`
	Replacement string    `json:"replacement,omitempty"`
	Updated     time.Time `json:"updated"`
}

// InProgress reports whether a run started the machine and did not finish or release it.
func (r *MachineRecord) InProgress() bool { return r.Phase != PhaseDone && r.Phase != PhaseReleased }

func (r *MachineRecord) done(step string) bool { return slices.Contains(r.Steps, step) }

// checkpointer keeps the checkpoint in the state store. Every write is
// conditional on the generation it last wrote, so a second writer (one
// that took over an expired lease) is noticed rather than overwritten.
type checkpointer struct {
	store *state.Store
	key   string

	mu  sync.Mutex
	gen state.Generation
	cp  *Checkpoint
}

// loadCheckpoint reads the cluster's checkpoint: an unfinished one is
// resumed, a finished or missing one replaced by a fresh one.
func loadCheckpoint(ctx context.Context, store *state.Store, cluster string, now time.Time) (*checkpointer, bool, error) {
	c := &checkpointer{store: store, key: CheckpointKey(cluster)}
	data, gen, err := store.Get(ctx, c.key)
	switch {
	case errors.Is(err, state.ErrNotFound):
	case err != nil:
		return nil, false, fmt.Errorf("read rolling-update checkpoint %s: %w", c.key, err)
	default:
		c.gen = gen
		var cp Checkpoint
		if err := json.Unmarshal(data, &cp); err != nil {
			return nil, false, fmt.Errorf("decode rolling-update checkpoint %s: %w; delete it to start afresh", c.key, err)
		}
		if cp.Finished == nil {
			if cp.Machines == nil {
				cp.Machines = map[string]*MachineRecord{}
			}
			c.cp = &cp
			return c, true, nil
		}
	}
	c.cp = &Checkpoint{Cluster: cluster, Started: now, Updated: now, Machines: map[string]*MachineRecord{}}
	return c, false, nil
}

// records returns a copy of the machine records.
func (c *checkpointer) records() map[string]MachineRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]MachineRecord{}
	for id, r := range c.cp.Machines {
		cp := *r
		cp.Steps = slices.Clone(r.Steps)
		out[id] = cp
	}
	return out
}

// record returns a copy of one machine's record (zero when absent).
func (c *checkpointer) record(id string) MachineRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.cp.Machines[id]; r != nil {
		cp := *r
		cp.Steps = slices.Clone(r.Steps)
		return cp
	}
	return MachineRecord{}
}

// update changes one machine's record and writes the checkpoint.
func (c *checkpointer) update(ctx context.Context, id string, fn func(r *MachineRecord)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.cp.Machines[id]
	if r == nil {
		r = &MachineRecord{}
		c.cp.Machines[id] = r
	}
	fn(r)
	r.Updated = time.Now().UTC()
	return c.writeLocked(ctx)
}

// finish marks the run complete.
func (c *checkpointer) finish(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().UTC()
	c.cp.Finished = &now
	return c.writeLocked(ctx)
}

func (c *checkpointer) writeLocked(ctx context.Context) error {
	c.cp.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(c.cp, "", "  ")
	if err != nil {
		return err
	}
	pre := state.MustNotExist()
	if c.gen != "" {
		pre = state.MatchGeneration(c.gen)
	}
	gen, err := c.store.Put(ctx, c.key, data, pre)
	if err != nil {
		return fmt.Errorf("write rolling-update checkpoint %s: %w", c.key, err)
	}
	c.gen = gen
	return nil
}

// inProgress lists the IDs of machines started and not finished, sorted.
func (c *checkpointer) inProgress() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(c.cp.Machines)) {
		if c.cp.Machines[id].InProgress() {
			ids = append(ids, id)
		}
	}
	return ids
}
