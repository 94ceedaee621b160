package cluster

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// logComponentRSS logs, for docs/performance.md, the resident memory of each
// Kubernetes component process on this host (the test's cluster is the only
// one running when it is called).
func logComponentRSS(t *testing.T) {
	components := map[string]bool{"kube-apiserver": true, "kube-controller": true, "kube-scheduler": true, "etcd": true, "kubelet": true, "containerd": true, "coredns": true, "kube-proxy": true, "nodeup": true}
	rss := map[string][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if !components[name] {
			continue
		}
		status, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kib, _ := strconv.Atoi(f[1])
				rss[name] = append(rss[name], kib/1024)
			}
		}
	}
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("FIGURE rss %s MiB per process: %v", n, rss[n])
	}
}
