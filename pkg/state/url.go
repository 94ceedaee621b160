package state

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// ResolveURL picks the state store URL: the --state flag if set, else
// DefaultURL.
func ResolveURL(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return DefaultURL()
}

// DefaultURL returns $HULL_STATE if set, else a file:// store under the
// user's data directory ($XDG_DATA_HOME/hull/state, falling back to
// ~/.local/share/hull/state), creating that directory owner-only (0700).
func DefaultURL() (string, error) {
	if v := os.Getenv("HULL_STATE"); v != "" {
		return v, nil
	}
	base := os.Getenv("XDG_DATA_HOME")
	// The XDG spec says relative values are invalid and must be ignored.
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("default state store: %w (set HULL_STATE or --state)", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	dir := filepath.Join(base, "hull", "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("default state store: %w", err)
	}
	return FileURL(dir), nil
}

// FileURL returns the file:// URL for a local directory.
func FileURL(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}
