package state_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// putAllObjects are three new objects a, b, c under prefix.
func putAllObjects(prefix string) []state.Object {
	var objs []state.Object
	for _, n := range []string{"a", "b", "c"} {
		objs = append(objs, state.Object{Key: k(prefix + n), Data: []byte("new " + n), Pre: state.MustNotExist()})
	}
	return objs
}

// failPutAll runs PutAll on a store whose write of key fails as fault
// says, and returns its *PutAllError.
func failPutAll(t *testing.T, s *state.Store, objs []state.Object, key string, fault func() error) *state.PutAllError {
	t.Helper()
	faulty := s.WithFault(func(op state.Op, k string) error {
		if op == state.OpPut && k == key {
			return fault()
		}
		return nil
	})
	err := state.PutAll(context.Background(), faulty, objs)
	var pe *state.PutAllError
	if !errors.As(err, &pe) {
		t.Fatalf("PutAll = %v, want a *PutAllError", err)
	}
	if pe.Key != key || objs[pe.Index].Key != key {
		t.Errorf("PutAll failed at %s (index %d), want %s", pe.Key, pe.Index, key)
	}
	return pe
}

func TestPutAll(t *testing.T) {
	ctx := context.Background()
	for name, url := range sortedBackends(t) {
		t.Run(name, func(t *testing.T) {
			s := openStore(t, url)

			t.Run("writes all", func(t *testing.T) {
				objs := putAllObjects("ok/")
				if err := state.PutAll(ctx, s, objs); err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					wantContent(t, s, o.Key, string(o.Data))
				}
			})

			t.Run("failed write removes the earlier ones", func(t *testing.T) {
				objs := putAllObjects("fail/")
				pe := failPutAll(t, s, objs, objs[2].Key, func() error { return statetest.ErrInjected })
				if !errors.Is(pe, statetest.ErrInjected) || len(pe.Left) != 0 || !strings.Contains(pe.Error(), "nothing was kept") {
					t.Errorf("PutAll = %v (left %v), want the injected fault and nothing kept", pe, pe.Left)
				}
				for _, o := range objs {
					wantNotFound(t, s, o.Key)
				}
			})

			// An object that existed before holds the very bytes PutAll
			// meant to write: its refused write was never ours to undo.
			t.Run("refused write keeps the existing object", func(t *testing.T) {
				objs := putAllObjects("exists/")
				mustPut(t, s, objs[1].Key, string(objs[1].Data), state.Unconditional())
				err := state.PutAll(ctx, s, objs)
				if !errors.Is(err, state.ErrConflict) {
					t.Fatalf("PutAll = %v, want a conflict", err)
				}
				wantNotFound(t, s, objs[0].Key)
				wantContent(t, s, objs[1].Key, string(objs[1].Data))
			})

			// A write can land although it reports an error (a timeout
			// after the PUT went through): it is rolled back too.
			t.Run("write that landed despite its error is removed", func(t *testing.T) {
				objs := putAllObjects("landed/")
				pe := failPutAll(t, s, objs, objs[1].Key, func() error {
					mustPut(t, s, objs[1].Key, string(objs[1].Data), state.Unconditional())
					return fmt.Errorf("timed out waiting for the response: %w", statetest.ErrInjected)
				})
				if len(pe.Left) != 0 {
					t.Errorf("left %v", pe.Left)
				}
				for _, o := range objs {
					wantNotFound(t, s, o.Key)
				}
			})

			// Someone changed an object PutAll wrote (a manager claimed a
			// command): it is theirs now, stays, and the error says so.
			t.Run("object changed since is kept and reported", func(t *testing.T) {
				objs := putAllObjects("changed/")
				pe := failPutAll(t, s, objs, objs[2].Key, func() error {
					mustPut(t, s, objs[0].Key, "claimed", state.Unconditional())
					return statetest.ErrInjected
				})
				if len(pe.Left) != 1 || pe.Left[0].Index != 0 || !errors.Is(pe.Left[0].Err, state.ErrConflict) {
					t.Errorf("left %v, want %s with a conflict", pe.Left, objs[0].Key)
				}
				if !strings.Contains(pe.Error(), "rolling back left 1 object(s) behind") {
					t.Errorf("error %q does not say what was left", pe)
				}
				wantContent(t, s, objs[0].Key, "claimed")
				wantNotFound(t, s, objs[1].Key)
			})
		})
	}
}
