package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder captures failures instead of failing the test.
type recorder struct {
	testing.TB
	errors, fatals []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, format)
}

func TestCheck(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.golden")
	if err := os.WriteFile(p, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	Check(r, p, "one\n")
	if len(r.errors)+len(r.fatals) > 0 {
		t.Errorf("equal content failed: %v %v", r.errors, r.fatals)
	}
	Check(r, p, "two\n")
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "differs") {
		t.Errorf("different content: errors %v; want one diff", r.errors)
	}
	Check(r, filepath.Join(t.TempDir(), "missing.golden"), "x")
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "-update") {
		t.Errorf("missing file: fatals %v; want one naming -update", r.fatals)
	}
}

func TestCheckUpdate(t *testing.T) {
	*update = true
	t.Cleanup(func() { *update = false })
	p := filepath.Join(t.TempDir(), "testdata", "new.golden")
	r := &recorder{TB: t}
	Check(r, p, "fresh\n")
	if len(r.errors)+len(r.fatals) > 0 {
		t.Errorf("-update failed: %v %v", r.errors, r.fatals)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "fresh\n" {
		t.Errorf("written %q, %v; want %q", b, err, "fresh\n")
	}
}
