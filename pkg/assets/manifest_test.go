package assets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeRepo writes a small repository and returns it with its manifest.
func fakeRepo(t *testing.T) (string, *Manifest) {
	t.Helper()
	dir := t.TempDir()
	m := &Manifest{KubernetesVersion: "v1.37.2", EtcdVersion: "3.6.16", ContainerdVersion: "1.6.20~ds1-1", RuncVersion: "1.1.5", CNIVersion: "1.1.1"}
	for name, content := range map[string]string{
		"bin/kubelet":     "kubelet binary",
		"bin/etcd":        "etcd binary",
		"cni/bridge":      "bridge plugin",
		"images/etcd.tar": "image tarball",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		sum, size, err := SumFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "images/") {
			m.Images = append(m.Images, Image{Name: "hull.local/etcd:v3.6.16", File: name, Digest: "sha256:abc", SHA256: sum})
			continue
		}
		m.Files = append(m.Files, File{Name: name, SHA256: sum, Size: size})
	}
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func TestManifestRoundTrip(t *testing.T) {
	dir, m := fakeRepo(t)
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if err := Verify(dir, got); err != nil {
		t.Errorf("Verify on an intact repository: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"kubernetesVersion": "v1.37.2"`, `"name": "bin/etcd"`, `"file": "images/etcd.tar"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("manifest.json lacks %s:\n%s", key, data)
		}
	}
}

func TestVerifyNamesBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(dir string) error
		want   []string
	}{
		{"missing file", func(dir string) error { return os.Remove(filepath.Join(dir, "bin", "kubelet")) }, []string{"bin/kubelet: missing"}},
		{"one byte changed", func(dir string) error { return flipByte(filepath.Join(dir, "cni", "bridge")) }, []string{"cni/bridge: sha256"}},
		{"image tarball changed", func(dir string) error { return flipByte(filepath.Join(dir, "images", "etcd.tar")) }, []string{"image hull.local/etcd:v3.6.16", "images/etcd.tar: sha256"}},
		{"truncated", func(dir string) error { return os.Truncate(filepath.Join(dir, "bin", "etcd"), 3) }, []string{"bin/etcd: size 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, m := fakeRepo(t)
			if err := tc.break_(dir); err != nil {
				t.Fatal(err)
			}
			err := Verify(dir, m)
			if err == nil {
				t.Fatal("Verify passed on a broken repository")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "bin/kubelet") && tc.name != "missing file" {
				t.Errorf("error names an intact file: %v", err)
			}
		})
	}
}

func TestLoadRefusesEscapingNames(t *testing.T) {
	for _, bad := range []string{"../etc/passwd", "/etc/passwd", "bin/../../x", "manifest.json", ""} {
		dir := t.TempDir()
		data := `{"kubernetesVersion":"v1.37.2","files":[{"name":"` + bad + `","sha256":"00","size":1}]}`
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Errorf("Load accepted file name %q", bad)
		}
	}
}

func flipByte(p string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	data[len(data)/2] ^= 0x01
	return os.WriteFile(p, data, 0o755)
}
