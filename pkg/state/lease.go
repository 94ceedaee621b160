package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Lease is a lock object in the store (for example "<cluster>/lock") that
// guards a read-modify-write spanning several objects. Every change to the
// lease object is a conditional write, so two processes can never both
// believe they hold it: acquiring a free or expired lease, renewing and
// releasing all name the generation they last saw.
//
// Expiry is judged by each client's clock; keep ttl well above any clock
// skew between operators, and Renew well before half the ttl has passed.
type Lease struct {
	store  *Store
	key    string
	holder string
	ttl    time.Duration
	token  string

	mu      sync.Mutex
	gen     Generation
	expires time.Time
}

// leaseRecord is the lease object's content.
type leaseRecord struct {
	Holder string `json:"holder"`
	// Token tells two acquisitions by the same holder apart, so that every
	// write of the record has distinct content (and so a distinct content
	// hash generation on file:// and mem://).
	Token    string    `json:"token"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

func (r leaseRecord) released() bool { return r.Holder == "" }

// maxAcquireAttempts bounds how often AcquireLease re-reads after losing a
// race for a free or expired lease.
const maxAcquireAttempts = 5

// AcquireLease takes the lease at key for holder (use Holder(), whose
// "user@host pid N" form lets a later process on the same host recognise a
// dead holder) for ttl. If someone holds it and it has not expired, it fails
// with a *LeaseHeldError naming the holder and when the lease expires. An
// expired or released lease, one whose holder is a process of this host that
// is gone, and a lease object that does not parse are taken over with a
// conditional write on the generation read, so of two processes racing for
// it exactly one wins.
func (s *Store) AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (*Lease, error) {
	if holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("acquire lease %s: holder must be non-empty and ttl positive", key)
	}
	var lastErr error
	for range maxAcquireAttempts {
		data, gen, err := s.Get(ctx, key)
		pre := MatchGeneration(gen)
		switch {
		case errors.Is(err, ErrNotFound):
			pre = MustNotExist()
		case err != nil:
			return nil, fmt.Errorf("acquire lease: %w", err)
		default:
			if err := checkFree(key, data); err != nil {
				return nil, err
			}
		}
		l := &Lease{store: s, key: key, holder: holder, ttl: ttl, token: newToken()}
		if err := l.write(ctx, pre, time.Now()); err != nil {
			if errors.Is(err, ErrConflict) {
				lastErr = err // someone else got there first; look again
				continue
			}
			return nil, fmt.Errorf("acquire lease: %w", err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("acquire lease: %w", lastErr)
}

// checkFree returns a *LeaseHeldError unless the lease object data may be
// taken over: released, expired, held by a dead process of this host, or
// unreadable (a lock nobody can interpret protects nothing, and refusing
// would need a human to delete it).
func checkFree(key string, data []byte) error {
	var cur leaseRecord
	if err := json.Unmarshal(data, &cur); err != nil {
		slog.Warn("lease object is unreadable; replacing it", "key", key, "err", err)
		return nil
	}
	if cur.released() || !time.Now().Before(cur.Expires) {
		return nil
	}
	if holderGone(cur.Holder) {
		slog.Info("taking over the lease of a process of this host that is gone", "key", key, "holder", cur.Holder)
		return nil
	}
	return &LeaseHeldError{Key: key, Holder: cur.Holder, Expires: cur.Expires}
}

// LeaseHeldError says a lease is held by someone else. errors.Is(err,
// ErrConflict) is true for it.
type LeaseHeldError struct {
	Key     string
	Holder  string
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s until %s (%s from now); retry after that or ask them to finish",
		e.Key, e.Holder, e.Expires.Format(time.RFC3339), time.Until(e.Expires).Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *LeaseHeldError) Unwrap() error { return ErrConflict }

// write stores a record for this lease conditionally and remembers the new
// generation. Callers hold l.mu or own l exclusively.
func (l *Lease) write(ctx context.Context, pre Precondition, now time.Time) error {
	rec := leaseRecord{Holder: l.holder, Token: l.token, Acquired: now, Expires: now.Add(l.ttl)}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	gen, err := l.store.Put(ctx, l.key, data, pre)
	if err != nil {
		return err
	}
	l.gen, l.expires = gen, rec.Expires
	return nil
}

// Key returns the lease object's key.
func (l *Lease) Key() string { return l.key }

// Expires returns when the lease lapses unless renewed.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Renew extends the lease by its ttl from now. If the lease expired and
// someone else took it over, Renew fails with a *ConflictError: the caller
// no longer holds the lease and must stop.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == "" {
		return fmt.Errorf("renew lease %s: already released", l.key)
	}
	if err := l.write(ctx, MatchGeneration(l.gen), time.Now()); err != nil {
		if errors.Is(err, ErrConflict) {
			return &ConflictError{Key: l.key, Msg: fmt.Sprintf(
				"lease %s was lost (it expired and someone else took it); stop, re-read and retry", l.key)}
		}
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// Release gives the lease up. Rather than deleting the object it writes a
// "released" record conditionally, so a holder whose lease expired cannot
// remove a lease that someone else has since taken (a conditional PUT is
// supported by more S3-compatible servers than a conditional DELETE).
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == "" {
		return nil
	}
	data, err := json.Marshal(leaseRecord{Token: newToken()})
	if err != nil {
		return err
	}
	if _, err := l.store.Put(ctx, l.key, data, MatchGeneration(l.gen)); err != nil {
		if errors.Is(err, ErrConflict) {
			return &ConflictError{Key: l.key, Msg: fmt.Sprintf(
				"lease %s was lost before release (it expired and someone else took it); re-read and retry whatever it guarded", l.key)}
		}
		return fmt.Errorf("release lease: %w", err)
	}
	l.gen = ""
	return nil
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReleaseAndDelete gives up the lease and removes its object, for a command
// that deletes everything under the lease's prefix. The delete is
// conditional on the generation this holder wrote, so it never removes a
// lease someone else took over after ours expired.
func (l *Lease) ReleaseAndDelete(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == "" {
		return nil
	}
	if err := l.store.Delete(ctx, l.key, MatchGeneration(l.gen)); err != nil {
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			return &ConflictError{Key: l.key, Msg: fmt.Sprintf(
				"lease %s was lost before release (it expired and someone else took it); re-read and retry whatever it guarded", l.key)}
		}
		return fmt.Errorf("release lease: %w", err)
	}
	l.gen = ""
	return nil
}
