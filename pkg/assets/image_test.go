package assets

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBuildImageFromStaticBinary builds the real pause program (a tiny
// static binary), packs it into an image and reads the tarball back.
func TestBuildImageFromStaticBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "pause")
	if err := buildPause(context.Background(), filepath.Join(dir, "build"), bin); err != nil {
		t.Fatal(err)
	}
	if err := checkVersion(context.Background(), bin, "pause (hull) "+PauseVersion, "--version"); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "images", "pause.tar")
	files := []imageFile{{src: bin, dst: "/usr/local/bin/pause"}}
	digest, err := buildImage(PauseImage, files, []string{"/usr/local/bin/pause"}, out)
	if err != nil {
		t.Fatal(err)
	}

	tag, err := name.NewTag(PauseImage)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("read back %s: %v", out, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != digest {
		t.Errorf("digest read back %s, buildImage returned %s", d, digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/usr/local/bin/pause"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" {
		t.Errorf("os %q, want linux", cf.OS)
	}
	got := imageFileContent(t, img, "usr/local/bin/pause")
	if !bytes.Equal(got, want) {
		t.Errorf("usr/local/bin/pause in the image differs from the binary (%d vs %d bytes)", len(got), len(want))
	}

	// The same inputs give the same image: digests are reproducible.
	again, err := buildImage(PauseImage, files, []string{"/usr/local/bin/pause"}, filepath.Join(dir, "again.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if again != digest {
		t.Errorf("rebuilding the same image gave digest %s, first %s", again, digest)
	}
}

// imageFileContent returns one file from the image's layers, with mode 0755.
func imageFileContent(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Name != path {
				continue
			}
			if hdr.Mode&0o777 != 0o755 || hdr.Uid != 0 {
				t.Errorf("%s: mode %o uid %d, want 0755 root", path, hdr.Mode, hdr.Uid)
			}
			data, err := io.ReadAll(tr)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
		rc.Close()
	}
	t.Fatalf("%s not in the image", path)
	return nil
}

func TestImageSpecs(t *testing.T) {
	v, _ := parseKubeVersion("1.37.2")
	got := map[string]string{}
	for _, s := range imageSpecs(v, "3.6.16") {
		got[s.ref] = s.file
		if len(s.entrypoint) == 0 || len(s.files) == 0 {
			t.Errorf("%s: no entrypoint or files", s.ref)
		}
	}
	want := map[string]string{
		"registry.k8s.io/pause:3.10":                 "images/pause.tar",
		"hull.local/kube-apiserver:v1.37.2":          "images/kube-apiserver.tar",
		"hull.local/kube-controller-manager:v1.37.2": "images/kube-controller-manager.tar",
		"hull.local/kube-scheduler:v1.37.2":          "images/kube-scheduler.tar",
		"hull.local/kube-proxy:v1.37.2":              "images/kube-proxy.tar",
		"hull.local/etcd:v3.6.16":                    "images/etcd.tar",
		"hull.local/coredns:v1.15.0":                 "images/coredns.tar",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}
