package state

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped in a *ConflictError) when a precondition
// failed: someone else changed the object since the caller read it, the
// object already exists, or a lease is held by someone else.
var ErrConflict = errors.New("conflict")

// ConflictError says which object conflicted and what the caller should do
// about it. errors.Is(err, ErrConflict) is true for it.
type ConflictError struct {
	Key string
	Msg string
}

func (e *ConflictError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrConflict) work through any wrapping.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func changedConflict(key string) error {
	return &ConflictError{Key: key, Msg: fmt.Sprintf("someone else changed %s; re-read and retry", key)}
}

func existsConflict(key string) error {
	return &ConflictError{Key: key, Msg: fmt.Sprintf("%s already exists; re-read and retry", key)}
}

// Generation is an opaque version of an object, returned by Get and Put and
// passed back in MatchGeneration. The empty Generation means "no object".
// Depending on the backend it is an ETag (s3://, azblob://), a generation
// number (gs://) or a content hash (file://, mem://). With a content hash,
// writing identical bytes yields the same Generation, which is harmless: a
// compare-and-write against an unchanged value is still correct.
type Generation string

type preKind int

const (
	preNone preKind = iota
	preMustNotExist
	preMatch
)

// Precondition guards a write or delete. The zero value is Unconditional.
type Precondition struct {
	kind preKind
	gen  Generation
}

// MustNotExist makes a write fail with ErrConflict if the key already exists.
func MustNotExist() Precondition { return Precondition{kind: preMustNotExist} }

// MatchGeneration makes a write or delete fail with ErrConflict unless the
// object exists and is still at generation g. MatchGeneration("") is the same
// as MustNotExist, so a caller can pass back whatever Get returned.
func MatchGeneration(g Generation) Precondition {
	if g == "" {
		return MustNotExist()
	}
	return Precondition{kind: preMatch, gen: g}
}

// Unconditional writes or deletes whatever is there. Use it only for objects
// that have a single writer (for example a freshly named backup).
func Unconditional() Precondition { return Precondition{} }

func (p Precondition) String() string {
	switch p.kind {
	case preMustNotExist:
		return "must-not-exist"
	case preMatch:
		return "match-generation " + string(p.gen)
	default:
		return "unconditional"
	}
}
