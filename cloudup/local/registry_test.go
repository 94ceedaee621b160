package local

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry pushes an image into the daemon's registry on this host's
// loopback port and lists it from a machine, at its subnet's gateway.
func testRegistry(t *testing.T) {
	c := connect(t)
	info, err := c.Registry(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Address, "127.0.0.1:") || len(info.Machines[testCluster]) == 0 {
		t.Fatalf("registry info %+v: want a loopback address and the cluster's gateways", info)
	}
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(info.Address+"/library/web:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	groups, _ := byGroup(t, c)
	node := groups["nodes-b"][0]
	url := RegistryMirrorURL("10.124.2.1") + "/v2/library/web/tags/list"
	if body := mustGet(t, "http://"+node.Address+":8080/fetch?url="+url); !strings.Contains(body, `"v1"`) {
		t.Fatalf("machine %s lists %s:\n%s", node.ID, url, body)
	}
	registrySeen = info
}

// registrySeen is the registry before the daemon restart.
var registrySeen *RegistryInfo

// testRegistryAfterRestart: a restarted daemon serves the same images.
func testRegistryAfterRestart(t *testing.T) {
	c := connect(t)
	info, err := c.Registry(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if registrySeen == nil || info.Dir != registrySeen.Dir {
		t.Fatalf("registry %+v after restart; before %+v", info, registrySeen)
	}
	ref, err := name.ParseReference(info.Address+"/library/web:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err != nil {
		t.Fatalf("image pushed before the restart: %v", err)
	}
}
