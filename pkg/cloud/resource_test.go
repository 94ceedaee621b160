package cloud

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPlanReadShares: readers of one key under one WithPlanReads context
// share one read, even when they ask at once; another key or another
// context reads again.
func TestPlanReadShares(t *testing.T) {
	var n atomic.Int32
	read := func(context.Context) (int, error) { return int(n.Add(1)), nil }
	ctx := WithPlanReads(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := PlanRead(ctx, "a", read); err != nil || v != 1 {
				t.Errorf("PlanRead = %d, %v; want the first read, 1", v, err)
			}
		}()
	}
	wg.Wait()
	if v, _ := PlanRead(ctx, "b", read); v != 2 {
		t.Errorf("another key read %d, want a read of its own (2)", v)
	}
	if v, _ := PlanRead(WithPlanReads(context.Background()), "a", read); v != 3 {
		t.Errorf("another plan read %d, want a read of its own (3)", v)
	}
	if v, _ := PlanRead(context.Background(), "a", read); v != 4 {
		t.Errorf("without WithPlanReads: %d, want a fresh read (4)", v)
	}
}

// TestPlanReadForgetsErrors: a failed read is not kept, so the graph's
// retry of a task reads the cloud again.
func TestPlanReadForgetsErrors(t *testing.T) {
	ctx := WithPlanReads(context.Background())
	calls := 0
	read := func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", &TransientError{Err: errors.New("throttled")}
		}
		return "ok", nil
	}
	if _, err := PlanRead(ctx, "k", read); !IsTransient(err) {
		t.Fatalf("first read: %v, want the transient error", err)
	}
	for range 2 {
		if v, err := PlanRead(ctx, "k", read); err != nil || v != "ok" {
			t.Fatalf("retry: %q, %v", v, err)
		}
	}
	if calls != 2 {
		t.Errorf("%d reads, want 2 (the failure and one kept answer)", calls)
	}
}

func TestResourceKey(t *testing.T) {
	if k := (Resource{Kind: "SecurityGroup", Name: "nodes.demo"}).Key(); k != "SecurityGroup/nodes.demo" {
		t.Errorf("Key = %q", k)
	}
}
