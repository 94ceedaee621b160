package bake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/hullproject/hull/pkg/assets"
)

// Where the image holds what it bakes in, as nodeup and the boot unit
// expect it (nodeup's BakedAssets is ImageDir/assets).
const (
	ImageDir   = "/opt/hull/image"
	NodeupPath = ImageDir + "/bin/nodeup"
)

// MaxUserData is EC2's limit on user-data, before base64.
const MaxUserData = 16 << 10

// HostPackages are the Debian packages a node needs from the host (as
// `make host-deps` installs them for the local cloud), plus curl and the
// CA certificates the script itself needs.
var HostPackages = []string{"ca-certificates", "curl", "iproute2", "util-linux", "iptables", "containerd", "runc", "containernetworking-plugins"}

// Download is one file the builder fetches and checks.
type Download struct {
	URL, Path, SHA256 string
	Mode              string // chmod mode, "" for 0644
}

// ScriptInput is what the builder script installs.
type ScriptInput struct {
	Image             string // the AMI name, for the log
	KubernetesVersion string
	Downloads         []Download
}

var (
	sumRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	safeRE = regexp.MustCompile(`^[A-Za-z0-9._~:/?&=%+@,-]+$`)
)

// shellSafe refuses what could break out of the script's quoting: every
// value is checked against a conservative alphabet and single-quoted.
func shellSafe(what, s string) error {
	if !safeRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("builder script: %s %q has characters hull does not put in a script", what, s)
	}
	return nil
}

// Downloads lists nodeup and every file and image of an assets manifest
// at repoURL, each pinned to its sha256, for Script. The manifest itself
// is pinned too, so the baked manifest is the one these sums came from.
func Downloads(repoURL string, manifest []byte, m *assets.Manifest, nodeupURL, nodeupSHA256 string) []Download {
	repoURL = strings.TrimSuffix(repoURL, "/")
	out := []Download{
		{URL: nodeupURL, Path: NodeupPath, SHA256: nodeupSHA256, Mode: "0755"},
		{URL: repoURL + "/" + assets.ManifestFile, Path: ImageDir + "/assets/" + assets.ManifestFile, SHA256: sha256Hex(manifest)},
	}
	for _, f := range m.Files {
		mode := ""
		if strings.HasPrefix(f.Name, "bin/") {
			mode = "0755"
		}
		out = append(out, Download{URL: repoURL + "/" + f.Name, Path: ImageDir + "/assets/" + f.Name, SHA256: f.SHA256, Mode: mode})
	}
	for _, im := range m.Images {
		out = append(out, Download{URL: repoURL + "/" + im.File, Path: ImageDir + "/assets/" + im.File, SHA256: im.SHA256})
	}
	return out
}

// Script renders the builder's user-data: a shell script that installs the
// host packages, downloads every file (refusing any whose sha256 differs),
// installs the boot unit that runs nodeup with the machine's user-data,
// and powers the machine off. hull waits for the builder to stop, which
// is the signal that the script got to its end, and images it.
func Script(in ScriptInput) ([]byte, error) {
	for _, d := range in.Downloads {
		if !sumRE.MatchString(d.SHA256) {
			return nil, fmt.Errorf("builder script: %s: %q is not a sha256", d.Path, d.SHA256)
		}
		for what, v := range map[string]string{"url": d.URL, "path": d.Path} {
			if err := shellSafe(what, v); err != nil {
				return nil, err
			}
		}
	}
	for what, v := range map[string]string{"image name": in.Image, "kubernetes version": in.KubernetesVersion} {
		if err := shellSafe(what, v); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if err := scriptTemplate.Execute(&b, struct {
		ScriptInput
		Packages  string
		ImageDir  string
		Nodeup    string
		UnitName  string
		UserData  string
		ImdsToken string
	}{in, strings.Join(HostPackages, " "), ImageDir, NodeupPath, "hull-nodeup.service", "/run/hull/user-data",
		"http://169.254.169.254/latest"}); err != nil {
		return nil, fmt.Errorf("builder script: %w", err)
	}
	if b.Len() > MaxUserData {
		return nil, fmt.Errorf("builder script is %d bytes, over EC2's %d-byte user-data limit (%d downloads)", b.Len(), MaxUserData, len(in.Downloads))
	}
	return b.Bytes(), nil
}

var scriptTemplate = template.Must(template.New("builder").Parse(`#!/bin/bash
# hull image builder: bakes '{{.Image}}' (Kubernetes {{.KubernetesVersion}}).
# hull images this machine once the script powers it off.
set -euo pipefail
exec > >(tee /var/log/hull-image-build.log) 2>&1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends {{.Packages}}

fetch() { # url path sha256 mode
  mkdir -p "$(dirname "$2")"
  curl -fsSL --retry 5 --retry-connrefused -o "$2.part" "$1"
  echo "$3  $2.part" | sha256sum -c --quiet -
  chmod "$4" "$2.part"
  mv "$2.part" "$2"
}
{{range .Downloads}}fetch '{{.URL}}' '{{.Path}}' '{{.SHA256}}' '{{if .Mode}}{{.Mode}}{{else}}0644{{end}}'
{{end}}
cat > /etc/systemd/system/{{.UnitName}} <<'UNIT'
[Unit]
Description=hull nodeup: make this machine a node of its cluster
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
Environment=HULL_USER_DATA={{.UserData}} HULL_CLOUD=aws
# systemd expands $, so the shell's are written $$.
ExecStartPre=/bin/sh -ec 'mkdir -p /run/hull; t=$$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" {{.ImdsToken}}/api/token); curl -fsS -H "X-aws-ec2-metadata-token: $$t" -o {{.UserData}} {{.ImdsToken}}/user-data; echo "HULL_INSTANCE_ID=$$(curl -fsS -H "X-aws-ec2-metadata-token: $$t" {{.ImdsToken}}/meta-data/instance-id)" > /run/hull/instance.env'
EnvironmentFile=-/run/hull/instance.env
ExecStart={{.Nodeup}}
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable {{.UnitName}}
# Leave no trace of this boot for the machines the image starts.
apt-get clean
cloud-init clean --logs || true
sync
poweroff
`))

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
