package graph

import (
	"context"
	"time"
)

// Fields is a resource's comparable state: field name -> printable value
// (sorted by name when printed).
type Fields map[string]string

// Task is one resource hull manages. A task knows how to find itself in the
// cloud and how to make the cloud match its spec; the engine decides when.
type Task interface {
	// Key is stable and unique: "Kind/name", e.g. "InstanceGroup/nodes-a".
	Key() string
	// Dependencies are the keys of tasks that must be applied first.
	Dependencies() []string
	// Expected is what the spec wants. Only these fields are compared with
	// the actual state; fields Find reports beyond them (ids, addresses) are
	// output only and never produce a change.
	Expected() Fields
	// Immutable names the fields that cannot change in place.
	Immutable() []string
	// Find returns the actual state, or nil Fields (and a nil error) when
	// the resource does not exist.
	Find(ctx context.Context) (Fields, error)
	// Apply makes it so: creates or modifies the resource as ch describes.
	Apply(ctx context.Context, ch *Change) error
}

// Deletion is a resource found in the cloud but absent from the model. It is
// deleted only when the caller asks to prune.
type Deletion interface {
	Key() string
	// Dependencies are the keys of deletions that must finish BEFORE this
	// one (an instance group before its subnet). Keys that are not being
	// deleted are ignored.
	Dependencies() []string
	Delete(ctx context.Context) error
}

// Action is what applying a change does to a resource.
type Action string

// Actions.
const (
	ActionCreate Action = "create"
	ActionModify Action = "modify"
	ActionNone   Action = "none"
	ActionDelete Action = "delete"
)

// FieldChange is one field whose value will change. Old is "" on create.
type FieldChange struct {
	Field, Old, New string
}

// Change is what Apply will do to one task's resource.
type Change struct {
	Key    string
	Action Action
	// Fields are sorted by field name: every expected field on create, only
	// the differing ones on modify, none for ActionNone.
	Fields []FieldChange
	// Expected is the task's full expected state.
	Expected Fields
}

// Plan is every task's change (ActionNone included), sorted by key, and the
// resources that exist but are not in the model, sorted by key.
type Plan struct {
	Changes   []*Change
	Deletions []Deletion
}

// HasChanges reports whether applying the plan would do anything: a create
// or modify, or (with prune) a deletion.
func (p *Plan) HasChanges(prune bool) bool {
	for _, ch := range p.Changes {
		if ch.Action != ActionNone {
			return true
		}
	}
	return prune && len(p.Deletions) > 0
}

// Options bound the executor. Zero values take the defaults.
type Options struct {
	// Parallelism is how many Find, Apply or Delete calls run at once (default 4).
	Parallelism int
	// TaskTimeout bounds each Find, Apply or Delete attempt (default 5m).
	TaskTimeout time.Duration
	// MaxAttempts is how many times a call is tried (default 5).
	MaxAttempts int
	// Backoff is the delay before the first retry; it doubles each retry up
	// to 10s (default 500ms).
	Backoff time.Duration
	// IsRetryable reports whether an error is transient (default: never).
	// An attempt that exceeds TaskTimeout is always retried.
	IsRetryable func(error) bool
	// Progress, if set, receives an event when a call starts, finishes,
	// fails or is retried. It is called from one goroutine at a time.
	Progress func(Event)
}

// Option defaults.
const (
	DefaultParallelism = 4
	DefaultTaskTimeout = 5 * time.Minute
	DefaultMaxAttempts = 5
	DefaultBackoff     = 500 * time.Millisecond
	maxBackoff         = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = DefaultTaskTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.IsRetryable == nil {
		o.IsRetryable = func(error) bool { return false }
	}
	return o
}

// Phase is the kind of call an event or error is about.
type Phase string

// Phases.
const (
	PhaseFind   Phase = "find"
	PhaseApply  Phase = "apply"
	PhaseDelete Phase = "delete"
)

// EventKind says what happened to a call.
type EventKind string

// Event kinds.
const (
	EventStarted  EventKind = "started"
	EventRetrying EventKind = "retrying"
	EventFinished EventKind = "finished"
	EventFailed   EventKind = "failed"
)

// Event is one progress report, for lines like
// "InstanceGroup/nodes-a: apply retrying in 1s (attempt 2/5): throttled".
type Event struct {
	Key         string
	Phase       Phase
	Kind        EventKind
	Attempt     int
	MaxAttempts int
	// Elapsed is the time since the first attempt started.
	Elapsed time.Duration
	// Delay is the wait before the next attempt (EventRetrying only).
	Delay time.Duration
	// Err is the attempt's error (EventRetrying and EventFailed).
	Err error
}
