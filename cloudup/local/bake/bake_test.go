package bake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/assets"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// repo writes a small but real assets repository.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"bin/kubelet": []byte("kubelet binary"), "cni/bridge": []byte("bridge plugin"), "images/pause.tar": []byte("pause tarball")}
	m := assets.Manifest{KubernetesVersion: "1.37.2", EtcdVersion: "3.6.16"}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "images/") {
			m.Images = append(m.Images, assets.Image{Name: "registry.k8s.io/pause:3.10", File: name, Digest: "sha256:x", SHA256: sum(data)})
		} else {
			m.Files = append(m.Files, assets.File{Name: name, SHA256: sum(data), Size: int64(len(data))})
		}
	}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, assets.ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func nodeupBinary(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "nodeup")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkImage re-hashes every file the manifest lists.
func checkImage(t *testing.T, dir string) *local.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, local.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m local.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for rel, want := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatalf("image lacks %s: %v", rel, err)
		}
		if got := sum(b); got != want {
			t.Errorf("%s: sha256 %s, manifest says %s", rel, got, want)
		}
	}
	return &m
}

func TestBakeBakedAndUnbaked(t *testing.T) {
	r := repo(t)
	nodeup := nodeupBinary(t)
	baked := filepath.Join(t.TempDir(), "baked")
	if _, err := Bake(Options{Nodeup: nodeup, AssetsRepo: r, Dir: baked}); err != nil {
		t.Fatal(err)
	}
	m := checkImage(t, baked)
	if m.Name != "hull-kubernetes-1.37.2" || m.Versions["baked"] != "true" || !cmp.Equal(m.Boot, []string{NodeupPath}) {
		t.Errorf("manifest: %+v", m)
	}
	for _, want := range []string{NodeupPath, "assets/bin/kubelet", "assets/cni/bridge", "assets/images/pause.tar", "assets/manifest.json"} {
		if _, ok := m.Files[want]; !ok {
			t.Errorf("baked image lacks %s", want)
		}
	}

	unbaked := filepath.Join(t.TempDir(), "unbaked")
	if _, err := Bake(Options{Name: "thin", Nodeup: nodeup, AssetsRepo: r, Dir: unbaked, Unbaked: true}); err != nil {
		t.Fatal(err)
	}
	um := checkImage(t, unbaked)
	if len(um.Files) != 1 || um.Versions["baked"] != "false" || um.Name != "thin" {
		t.Errorf("unbaked manifest: %+v", um)
	}
}

func TestBakeRefusesDamagedRepository(t *testing.T) {
	r := repo(t)
	if err := os.WriteFile(filepath.Join(r, "bin/kubelet"), []byte("tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "img")
	_, err := Bake(Options{Nodeup: nodeupBinary(t), AssetsRepo: r, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "bin/kubelet") {
		t.Fatalf("want an error naming bin/kubelet, got %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("a damaged repository still produced an image")
	}
}

// The default name must be the one completion gives instance groups.
func TestDefaultNameMatchesCompletion(t *testing.T) {
	for _, v := range []string{"1.37.2", "v1.37.2"} {
		if got := DefaultName(v); got != "hull-kubernetes-1.37.2" {
			t.Errorf("DefaultName(%q) = %q", v, got)
		}
	}
}
