package ociregistry

import (
	"context"
	"net"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPushPullSurvivesRestart pushes an image with go-containerregistry,
// pulls it back by digest, then serves the same directory from a new
// registry (a daemon restart) and pulls it again.
func TestPushPullSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := reg.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(addr + "/library/web:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push: %v", err)
	}
	pullByDigest := func(addr string) {
		t.Helper()
		ref, err := name.NewDigest(addr + "/library/web@" + want.String())
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(ref, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		layers, err := got.Layers()
		if err != nil || len(layers) != 2 {
			t.Fatalf("pulled image has %d layers (%v), want 2", len(layers), err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer: %v", err)
			}
			rc.Close()
		}
	}
	pullByDigest(addr)

	if err := reg.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatalf("%s still accepts connections after Close", addr)
	}

	again, err := New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	addr2, err := again.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pullByDigest(addr2)
	desc, err := remote.Head(mustRef(t, addr2+"/library/web:v1"), remote.WithContext(ctx))
	if err != nil || desc.Digest != want {
		t.Fatalf("tag after restart: %v, %v; want %s", desc, err, want)
	}
}

func TestUnlisten(t *testing.T) {
	reg, err := New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	addr, err := reg.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Listening(addr) {
		t.Fatalf("not listening on %s", addr)
	}
	reg.Unlisten(addr)
	if reg.Listening(addr) {
		t.Fatalf("still listening on %s", addr)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
