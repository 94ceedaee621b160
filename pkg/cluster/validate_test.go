package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/validate"
)

func TestPollValidation(t *testing.T) {
	bad := &validate.Result{Failures: []validate.Failure{{Kind: "Machine", Name: "i-1", Message: "machine i-1 has not joined the cluster"}}}
	good := &validate.Result{}
	transient := &cloud.TransientError{Err: errors.New("daemon busy")}
	fatal := errors.New("permission denied")

	tests := []struct {
		name      string
		wait      time.Duration
		answers   []any // *validate.Result or error, the last one repeats
		want      *validate.Result
		wantErr   error
		wantCalls int
	}{
		{name: "valid at once", wait: time.Minute, answers: []any{good}, want: good, wantCalls: 1},
		{name: "no wait: one check", wait: 0, answers: []any{bad}, want: bad, wantCalls: 1},
		{name: "waits until valid", wait: time.Minute, answers: []any{bad, bad, good}, want: good, wantCalls: 3},
		{name: "transient cloud errors are retried", wait: time.Minute, answers: []any{transient, good}, want: good, wantCalls: 2},
		{name: "other errors end the wait", wait: time.Minute, answers: []any{bad, fatal}, wantErr: fatal, wantCalls: 2},
		{name: "no wait: transient error is returned", wait: 0, answers: []any{transient}, wantErr: transient, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls, notReady := 0, 0
			check := func(context.Context) (*validate.Result, error) {
				a := tc.answers[min(calls, len(tc.answers)-1)]
				calls++
				if err, ok := a.(error); ok {
					return nil, err
				}
				return a.(*validate.Result), nil
			}
			got, err := pollValidation(context.Background(), tc.wait, time.Millisecond, check, func(*validate.Result, error) { notReady++ })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("result = %+v, want %+v", got, tc.want)
			}
			if calls != tc.wantCalls {
				t.Errorf("checks = %d, want %d", calls, tc.wantCalls)
			}
			if want := max(calls-1, 0); tc.wantErr == nil && notReady != want {
				t.Errorf("progress lines = %d, want %d", notReady, want)
			}
		})
	}

	t.Run("times out with the last result", func(t *testing.T) {
		calls := 0
		start := time.Now()
		got, err := pollValidation(context.Background(), 50*time.Millisecond, 10*time.Millisecond, func(context.Context) (*validate.Result, error) {
			calls++
			return bad, nil
		}, func(*validate.Result, error) {})
		if err != nil || got != bad {
			t.Fatalf("got %v, %v; want the failing result", got, err)
		}
		if elapsed := time.Since(start); elapsed < 50*time.Millisecond || calls < 3 {
			t.Errorf("returned after %s and %d checks; want the whole wait, checking repeatedly", elapsed, calls)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := pollValidation(ctx, time.Hour, time.Hour, func(context.Context) (*validate.Result, error) { return bad, nil }, func(*validate.Result, error) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})
}
