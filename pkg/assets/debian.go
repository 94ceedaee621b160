package assets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// debianFile is a program copied from an installed Debian package.
type debianFile struct {
	pkg  string // Debian package
	name string // file name in the package (any bin or lib dir)
	dest string // repository-relative destination
}

// debianFiles are the node runtime pieces hull takes from Debian.
var debianFiles = []debianFile{
	{"containerd", "containerd", "bin/containerd"},
	{"containerd", "containerd-shim-runc-v2", "bin/containerd-shim-runc-v2"},
	{"containerd", "ctr", "bin/ctr"},
	{"runc", "runc", "bin/runc"},
	{"containernetworking-plugins", "bridge", "cni/bridge"},
	{"containernetworking-plugins", "host-local", "cni/host-local"},
	{"containernetworking-plugins", "loopback", "cni/loopback"},
	{"containernetworking-plugins", "portmap", "cni/portmap"},
	{"containernetworking-plugins", "firewall", "cni/firewall"},
}

// debianPackages are the packages of debianFiles, in install order.
var debianPackages = []string{"containerd", "runc", "containernetworking-plugins"}

// debian copies containerd, runc and the CNI plugins out of the host's
// Debian packages, installing the packages first when allowed.
func (b *builder) debian(ctx context.Context) error {
	cached := make([]File, 0, len(debianFiles))
	for _, f := range debianFiles {
		if cf, ok := b.cachedFile(f.dest); ok {
			cached = append(cached, cf)
		}
	}
	if len(cached) == len(debianFiles) {
		b.m.Files = append(b.m.Files, cached...)
		b.m.ContainerdVersion, b.m.RuncVersion, b.m.CNIVersion = b.old.ContainerdVersion, b.old.RuncVersion, b.old.CNIVersion
		b.progress("containerd %s, runc %s, CNI plugins %s from Debian (cached)", b.m.ContainerdVersion, b.m.RuncVersion, b.m.CNIVersion)
		return nil
	}
	versions, err := b.ensurePackages(ctx)
	if err != nil {
		return err
	}
	b.m.ContainerdVersion = versions["containerd"]
	b.m.RuncVersion = versions["runc"]
	b.m.CNIVersion = versions["containernetworking-plugins"]
	for _, pkg := range debianPackages {
		out, err := run(ctx, command{name: "dpkg-query", args: []string{"-L", pkg}})
		if err != nil {
			return fmt.Errorf("list files of Debian package %s: %w", pkg, err)
		}
		for _, f := range debianFiles {
			if f.pkg != pkg {
				continue
			}
			src, err := findPackageFile(out, f.name)
			if err != nil {
				return fmt.Errorf("Debian package %s: %w", pkg, err)
			}
			if err := copyExecutable(src, filepath.Join(b.repo, filepath.FromSlash(f.dest))); err != nil {
				return err
			}
			if err := b.addFile(f.dest); err != nil {
				return err
			}
		}
	}
	b.progress("copied containerd %s, runc %s, CNI plugins %s from Debian", b.m.ContainerdVersion, b.m.RuncVersion, b.m.CNIVersion)
	return nil
}

// ensurePackages returns the installed version of each package, running
// apt-get install for the missing ones when Options.InstallPackages is set.
func (b *builder) ensurePackages(ctx context.Context) (map[string]string, error) {
	versions, missing := map[string]string{}, []string(nil)
	for _, pkg := range debianPackages {
		v, err := installedVersion(ctx, pkg)
		if err != nil {
			return nil, err
		}
		if v == "" {
			missing = append(missing, pkg)
		}
		versions[pkg] = v
	}
	if len(missing) == 0 {
		return versions, nil
	}
	if !b.opts.InstallPackages {
		return nil, fmt.Errorf("Debian packages not installed: %s (run: apt-get install -y --no-install-recommends %s)",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	b.progress("installing Debian packages %s ...", strings.Join(missing, " "))
	if err := aptInstall(ctx, missing); err != nil {
		return nil, err
	}
	for _, pkg := range missing {
		v, err := installedVersion(ctx, pkg)
		if err != nil {
			return nil, err
		}
		if v == "" {
			return nil, fmt.Errorf("Debian package %s is still not installed after apt-get install", pkg)
		}
		versions[pkg] = v
	}
	return versions, nil
}

// installedVersion returns the version of an installed package, or "".
func installedVersion(ctx context.Context, pkg string) (string, error) {
	out, err := run(ctx, command{name: "dpkg-query", args: []string{"-W", "-f", "${db:Status-Status} ${Version}", pkg}})
	if err != nil {
		if strings.Contains(err.Error(), "no packages found") {
			return "", nil
		}
		return "", fmt.Errorf("query Debian package %s: %w", pkg, err)
	}
	status, version, _ := strings.Cut(strings.TrimSpace(out), " ")
	if status != "installed" {
		return "", nil
	}
	return version, nil
}

// aptInstall installs pkgs, refreshing the package lists once if apt does
// not know a package yet.
func aptInstall(ctx context.Context, pkgs []string) error {
	install := command{
		name: "apt-get",
		args: append([]string{"install", "-y", "--no-install-recommends"}, pkgs...),
		env:  []string{"DEBIAN_FRONTEND=noninteractive"},
	}
	_, err := run(ctx, install)
	if err == nil {
		return nil
	}
	if _, uerr := run(ctx, command{name: "apt-get", args: []string{"update"}, env: install.env}); uerr != nil {
		return fmt.Errorf("install Debian packages %s: %w (and apt-get update failed: %v)", strings.Join(pkgs, " "), err, uerr)
	}
	if _, err := run(ctx, install); err != nil {
		return fmt.Errorf("install Debian packages %s: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// findPackageFile picks the executable called name from `dpkg-query -L`.
func findPackageFile(list, name string) (string, error) {
	for _, p := range strings.Split(list, "\n") {
		p = strings.TrimSpace(p)
		if filepath.Base(p) != name {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no executable %s in the package", name)
}

// copyExecutable copies src to dst (mode 0755) through a temporary file.
func copyExecutable(src, dst string) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	tmp := dst + ".partial"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer os.Remove(tmp)
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Close())
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
