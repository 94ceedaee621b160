// Package deps pins modules that hull's packages are about to use, so helpers
// writing those packages in parallel never race on go.mod.
package deps

import (
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "go.etcd.io/etcd/client/v3"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kubectl/pkg/drain"
)
