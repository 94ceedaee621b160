package images

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testRegistry is go-containerregistry's registry on a loopback port.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func randomImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(4096, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerArchive writes a tarball as `docker save` does, with the tags given.
func dockerArchive(t *testing.T, imgs map[string]v1.Image) string {
	t.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range imgs {
		ref, err := name.ParseReference(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[ref] = img
	}
	p := filepath.Join(t.TempDir(), "images.tar")
	if err := tarball.MultiRefWriteToFile(p, refs); err != nil {
		t.Fatal(err)
	}
	return p
}

func pulledDigest(t *testing.T, reg, ref string) (v1.Hash, error) {
	t.Helper()
	r, err := name.ParseReference(reg+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

func TestLoadDockerArchive(t *testing.T) {
	reg := testRegistry(t)
	web, db := randomImage(t, 2), randomImage(t, 1)
	p := dockerArchive(t, map[string]v1.Image{"docker.io/library/web:v1": web, "registry.example.com/team/db:2.0": db})

	var lines []string
	res, err := LoadTarballs(context.Background(), reg, []string{p}, func(s Source, sent, total int64, _ time.Duration) {
		lines = append(lines, s.Ref.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || len(lines) == 0 {
		t.Fatalf("results %+v, %d progress reports", res, len(lines))
	}
	for ref, img := range map[string]v1.Image{"library/web:v1": web, "team/db:2.0": db} {
		want, _ := img.Digest()
		got, err := pulledDigest(t, reg, ref)
		if err != nil || got != want {
			t.Errorf("pull %s: %s, %v; want %s", ref, got, err, want)
		}
		// And by digest, as a kubelet pins it.
		if _, err := pulledDigest(t, reg, strings.Split(ref, ":")[0]+"@"+want.String()); err != nil {
			t.Errorf("pull %s by digest: %v", ref, err)
		}
	}
	for _, r := range res {
		if r.Bytes <= 0 || r.Digest == "" || !strings.HasPrefix(r.Pushed, reg+"/") {
			t.Errorf("result %+v", r)
		}
	}
}

func TestLoadOCILayoutTar(t *testing.T) {
	reg := testRegistry(t)
	img := randomImage(t, 1)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "ghcr.io/acme/app:1.0"})); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, dir, p)
	if _, err := LoadTarballs(context.Background(), reg, []string{p}, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got, err := pulledDigest(t, reg, "acme/app:1.0"); err != nil || got != want {
		t.Fatalf("pull: %s, %v; want %s", got, err, want)
	}

	// hull image push: the layout directory itself, under a name given.
	srcs, err := ReadLayout(dir, name.MustParseReference("docker.io/library/app:renamed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PushAll(context.Background(), reg, srcs, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := pulledDigest(t, reg, "library/app:renamed"); err != nil || got != want {
		t.Fatalf("pull pushed layout: %s, %v; want %s", got, err, want)
	}
}

// TestLoadCorruptTarball: a layer whose bytes do not match its digest is
// refused before anything is pushed, even the good image beside it.
func TestLoadCorruptTarball(t *testing.T) {
	reg := testRegistry(t)
	good := dockerArchive(t, map[string]v1.Image{"docker.io/library/good:v1": randomImage(t, 1)})
	bad := corruptLayer(t, dockerArchive(t, map[string]v1.Image{"docker.io/library/bad:v1": randomImage(t, 2)}))

	_, err := LoadTarballs(context.Background(), reg, []string{good, bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "docker.io/library/bad:v1") || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("error %v; want one naming the damaged image", err)
	}
	for _, ref := range []string{"library/good:v1", "library/bad:v1"} {
		if _, err := pulledDigest(t, reg, ref); err == nil {
			t.Errorf("%s was pushed although the load failed", ref)
		}
	}
}

func TestLoadNotAnImage(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "notes.txt")
	os.WriteFile(notTar, []byte(strings.Repeat("not a tar file\n", 100)), 0o644)
	plainTar := filepath.Join(dir, "plain.tar")
	writeTar(t, plainTar, map[string][]byte{"hello.txt": []byte("hi")})
	truncated := filepath.Join(dir, "truncated.tar")
	full, _ := os.ReadFile(dockerArchive(t, map[string]v1.Image{"docker.io/library/x:v1": randomImage(t, 1)}))
	os.WriteFile(truncated, full[:len(full)/2], 0o644)

	for p, want := range map[string]string{
		notTar:                        "not a readable tar file",
		plainTar:                      "neither a docker-archive",
		truncated:                     "truncated.tar",
		filepath.Join(dir, "missing"): "no such file",
	} {
		_, err := LoadTarballs(context.Background(), testRegistry(t), []string{p}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v; want one containing %q", filepath.Base(p), err, want)
		}
	}
}

func TestTarget(t *testing.T) {
	for ref, want := range map[string]string{
		"nginx":                               "127.0.0.1:5000/library/nginx:latest",
		"docker.io/library/web:v1":            "127.0.0.1:5000/library/web:v1",
		"registry.k8s.io/pause:3.10":          "127.0.0.1:5000/pause:3.10",
		"quay.io/org/app@sha256:" + zeros64(): "127.0.0.1:5000/org/app@sha256:" + zeros64(),
	} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Target("127.0.0.1:5000", r)
		if err != nil || got.String() != want {
			t.Errorf("Target(%s) = %v, %v; want %s", ref, got, err, want)
		}
	}
}

func zeros64() string { return strings.Repeat("0", 64) }

// corruptLayer rewrites a docker-archive with one byte of its largest
// file (a layer) flipped.
func corruptLayer(t *testing.T, p string) string {
	t.Helper()
	files := readTar(t, p)
	big := ""
	for n, b := range files {
		if big == "" || len(b) > len(files[big]) {
			big = n
		}
	}
	files[big][len(files[big])/2] ^= 0xff
	out := filepath.Join(t.TempDir(), "corrupt.tar")
	writeTar(t, out, files)
	return out
}

func readTar(t *testing.T, p string) map[string][]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func writeTar(t *testing.T, p string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, b := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarDir tars a directory tree, as `tar -C dir -cf out .` does.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	files := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	writeTar(t, out, files)
}
