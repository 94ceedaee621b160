package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// rollbackTimeout bounds the clean-up after a failed PutAll. It runs on a
// fresh context: the caller's is often the very thing that was cancelled.
const rollbackTimeout = 30 * time.Second

// Object is one write of a PutAll.
type Object struct {
	Key  string
	Data []byte
	Pre  Precondition
}

// Unremoved is an object that a failed PutAll wrote and could not remove.
type Unremoved struct {
	Index int   // into the objects given to PutAll
	Err   error // why it stays: someone changed it since, or the delete failed
}

// PutAllError is how PutAll fails: which write failed, and what the roll-back
// had to leave. errors.Is and errors.As see the write's error through it.
type PutAllError struct {
	Index int // of the object whose write failed
	Key   string
	Err   error // the write's error
	Left  []Unremoved
}

func (e *PutAllError) Error() string {
	msg := fmt.Sprintf("write %s: %v", e.Key, e.Err)
	if len(e.Left) == 0 {
		return msg + "; nothing was kept"
	}
	left := make([]string, len(e.Left))
	for i, u := range e.Left {
		left[i] = u.Err.Error()
	}
	return fmt.Sprintf("%s; rolling back left %d object(s) behind: %s", msg, len(e.Left), strings.Join(left, "; "))
}

func (e *PutAllError) Unwrap() error { return e.Err }

// PutAll writes objs in order, all or nothing. If one write fails, it
// removes again, newest first, what it wrote and returns a *PutAllError:
//   - an object written before is deleted only at the generation this call
//     wrote, so one that someone changed since (a manager that claimed a
//     command, say) stays and is reported in Left;
//   - the failed object itself is removed only if the write can have landed
//     despite its error (not a refused precondition) and the object holds
//     exactly these bytes: an object that existed before is never ours.
func PutAll(ctx context.Context, s *Store, objs []Object) error {
	gens := make([]Generation, 0, len(objs))
	for i, o := range objs {
		gen, err := s.Put(ctx, o.Key, o.Data, o.Pre)
		if err == nil {
			gens = append(gens, gen)
			continue
		}
		return &PutAllError{Index: i, Key: o.Key, Err: err, Left: rollback(ctx, s, objs[:i+1], gens, err)}
	}
	return nil
}

// rollback removes the objects of a failed PutAll on a fresh context.
// objs ends with the object whose write failed with werr; gens holds the
// generations written of the ones before it.
func rollback(ctx context.Context, s *Store, objs []Object, gens []Generation, werr error) []Unremoved {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var left []Unremoved
	last := len(objs) - 1
	if !errors.Is(werr, ErrConflict) {
		if err := removeIfOurs(ctx, s, objs[last]); err != nil {
			left = append(left, Unremoved{Index: last, Err: err})
		}
	}
	for i := last - 1; i >= 0; i-- {
		err := s.Delete(ctx, objs[i].Key, MatchGeneration(gens[i]))
		if err != nil && !errors.Is(err, ErrNotFound) {
			left = append(left, Unremoved{Index: i, Err: err})
		}
	}
	return left
}

// removeIfOurs deletes o if it holds o's bytes: a write that reported an
// error may still have landed. It deletes only the generation it read.
func removeIfOurs(ctx context.Context, s *Store, o Object) error {
	data, gen, err := s.Get(ctx, o.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case !bytes.Equal(data, o.Data):
		return nil // not ours: the write never landed
	}
	if err := s.Delete(ctx, o.Key, MatchGeneration(gen)); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
