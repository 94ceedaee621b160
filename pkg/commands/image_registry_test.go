package commands

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/images"
)

// TestImageLoad loads a docker-archive into a cluster's local-cloud
// registry through the real binary and daemon, pulls it back by digest,
// refuses a corrupt one without pushing it, and leaves no registry
// listener once the daemon is gone.
func TestImageLoad(t *testing.T) {
	e := newEnv(t)
	e.must("create", "cluster", demo)

	img, err := random.Image(8192, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("docker.io/library/hull-test-web:v1")
	good := filepath.Join(e.dir, "web.tar")
	if err := tarball.WriteToFile(good, tag, img); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "image", "load", demo, good, "-o", "json")
	if r.code != 0 {
		t.Fatalf("image load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res []images.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res) != 1 {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	want, _ := img.Digest()
	if res[0].Image != tag.String() || res[0].Digest != want.String() || res[0].Bytes <= 0 {
		t.Errorf("result %+v; want %s at %s", res[0], tag, want)
	}
	if !strings.Contains(r.stderr, tag.String()+": sent ") {
		t.Errorf("no progress line on stderr:\n%s", r.stderr)
	}

	cloudDir := filepath.Join(e.dir, "cloud")
	ctx := context.Background()
	cl, err := local.Connect(ctx, local.ClientOptions{StateDir: cloudDir, Socket: filepath.Join(cloudDir, "daemon.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	info, err := cl.Registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Dir != filepath.Join(cloudDir, "registry") {
		t.Errorf("registry data in %s, want under the local cloud's directory", info.Dir)
	}
	pull := func(ref string) (v1.Hash, error) {
		r, err := name.ParseReference(info.Address+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r)
		if err != nil {
			return v1.Hash{}, err
		}
		return img.Digest()
	}
	if got, err := pull("library/hull-test-web@" + want.String()); err != nil || got != want {
		t.Fatalf("pull by digest: %s, %v", got, err)
	}

	// A corrupt tarball: refused, named, nothing pushed.
	badImg, _ := random.Image(8192, 1)
	badTag, _ := name.NewTag("docker.io/library/hull-test-bad:v1")
	bad := filepath.Join(e.dir, "bad.tar")
	if err := tarball.WriteToFile(bad, badTag, badImg); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "bad.tar", corruptMiddle(t, bad))
	e.fails(1, []string{"hull-test-bad:v1", "damaged"}, "image", "load", demo, bad)
	if _, err := pull("library/hull-test-bad:v1"); err == nil {
		t.Error("the corrupt image was pushed")
	}
	e.fails(1, []string{"neither a docker-archive"}, "image", "load", demo, writeFile(t, e.dir, "x.tar", strings.Repeat("\x00", 2048)))
	e.fails(1, []string{"nope.example.com"}, "image", "load", "nope.example.com", good)

	// No listener outlives the daemon.
	if err := cl.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", info.Address, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("registry still listens on %s after the daemon stopped", info.Address)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// corruptMiddle returns the file's bytes with those in the middle of its
// largest stretch (a layer) flipped, keeping the tar structure readable.
func corruptMiddle(t *testing.T, p string) string {
	t.Helper()
	b := []byte(readFile(t, p))
	for i := len(b)/2 - 16; i < len(b)/2+16; i++ {
		b[i] ^= 0xff
	}
	return string(b)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
