package images

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Result is one pushed image.
type Result struct {
	// Image is the name the image carries, as nodes pull it.
	Image string `json:"image"`
	// Pushed is where it went in the registry (the same repository and
	// tag, on the registry's host).
	Pushed  string        `json:"pushed"`
	Digest  string        `json:"digest"`
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
	From    string        `json:"from"`
}

// Progress hears how much of an image has been sent; the last call of a
// pushed image has sent == total.
type Progress func(s Source, sent, total int64, elapsed time.Duration)

// Target is where an image named ref goes in the registry at host:port:
// the same repository path and tag or digest, so a mirror of any
// registry host serves it under its usual name (docker.io/library/web:v1
// is served as library/web:v1).
func Target(registry string, ref name.Reference) (name.Reference, error) {
	repo := ref.Context().RepositoryStr()
	sep := ":"
	if _, ok := ref.(name.Digest); ok {
		sep = "@"
	}
	t, err := name.ParseReference(registry+"/"+repo+sep+ref.Identifier(), name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("image %s in registry %s: %w", ref, registry, err)
	}
	return t, nil
}

// Push sends one image to the registry at host:port (plain HTTP on
// loopback): blobs first, the manifest last, so a push cut short leaves
// no image behind, only unreferenced blobs.
func Push(ctx context.Context, registry string, s Source, progress Progress) (Result, error) {
	start := time.Now()
	target, err := Target(registry, s.Ref)
	if err != nil {
		return Result{}, err
	}
	total, err := s.Size()
	if err != nil {
		return Result{}, fmt.Errorf("image %s from %s: %w", s.Ref, s.From, err)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			if progress != nil && u.Error == nil && u.Complete < u.Total {
				progress(s, u.Complete, u.Total, time.Since(start))
			}
		}
	}()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithProgress(updates)}
	var digest v1.Hash
	if s.index != nil {
		err = remote.WriteIndex(target, s.index, opts...)
		if err == nil {
			digest, err = s.index.Digest()
		}
	} else {
		err = remote.Write(target, s.image, opts...)
		if err == nil {
			digest, err = s.image.Digest()
		}
	}
	<-done
	if err != nil {
		return Result{}, fmt.Errorf("push %s from %s to %s: %w", s.Ref, s.From, target, err)
	}
	elapsed := time.Since(start)
	if progress != nil {
		progress(s, total, total, elapsed)
	}
	return Result{Image: s.Ref.String(), Pushed: target.String(), Digest: digest.String(), Bytes: total,
		Elapsed: elapsed, Seconds: elapsed.Round(time.Millisecond).Seconds(), From: s.From}, nil
}
