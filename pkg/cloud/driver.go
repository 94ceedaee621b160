package cloud

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// Driver is one cloud as its provider package registers it (see
// Register): everything hull knows about that cloud, so that no package
// outside the provider's own switches on the cloud's name. Spec completion
// and validation, the model, the facade and the CLI ask the driver of a
// cluster's spec.cloudProvider.
type Driver interface {
	// Name is the cloud's spec.cloudProvider value.
	Name() string

	// MachineType is the machine type of a group of this role that names none.
	MachineType(role v1alpha1.InstanceGroupRole) string
	// Image is the image a group boots when it names none, from the name
	// hull gives every cloud's image of a Kubernetes version
	// (hull-kubernetes-1.37.2).
	Image(name string) string
	// DefaultZones are the zones `hull create cluster` uses without
	// --zones; nil makes --zones required.
	DefaultZones() []string
	// CheckZones refuses --zones that cannot be this cloud's (each zone is
	// already a DNS label); the error says which zone and why.
	CheckZones(zones []string) error
	// Settings are the ClusterSpec fields (JSON names) that only some
	// clouds use, and this one does; a spec for another cloud that sets
	// one of them is refused.
	Settings() []string
	// Validate checks the rules this cloud adds to a cluster spec.
	Validate(c *v1alpha1.Cluster) field.ErrorList
	// Images says how the release channel lists this cloud's images.
	Images() ImageRules

	// APIHost is the host machines reach the API at, from the completed
	// spec alone; "" when the cloud names it as it makes the API load
	// balancer (Provider.LoadBalancerHost), which the machines' configs
	// then need before they can be written.
	APIHost(c *v1alpha1.Cluster) (string, error)

	// Terraform writes the cluster's resources as Terraform configuration
	// instead of creating them; nil where hull writes none for this cloud.
	Terraform() Terraform

	// Connect returns a client of the cloud for the completed cluster,
	// acting for o.Owner. The caller closes it.
	Connect(ctx context.Context, c *v1alpha1.Cluster, o ConnectOptions) (Provider, error)
}

// ConnectOptions say who calls the cloud and what for.
type ConnectOptions struct {
	Owner Owner
	// Change says the command creates, changes or deletes resources; one
	// that only looks (a plan, a listing) starts nothing and needs no
	// privilege it can do without.
	Change bool
}

// ImageRules say how a release channel lists a cloud's images.
type ImageRules struct {
	// Baked: hull bakes the cloud's images from a base image the channel
	// names (spec.baseImages).
	Baked bool
	// Owner: an image names the account whose images are searched.
	Owner bool
}

// Terraform renders a cluster for Terraform.
type Terraform interface {
	// Check refuses a cluster the output cannot serve, before anything is
	// built for it.
	Check(c *v1alpha1.Cluster) error
	// Render returns the files Write would write (name -> content), so a
	// cluster it refuses is refused before anything is written.
	Render(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner Owner) (map[string][]byte, error)
	// Write writes the configuration, and the groups' user-data under
	// DataDir, into dir.
	Write(dir string, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner Owner) error
	// DataDir is where in dir the groups' user-data goes.
	DataDir() string
}

// DefaultName is the cloud of a spec that names none: the embedded local
// cloud, which runs on this host and needs no account.
const DefaultName = v1alpha1.CloudLocal

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register makes a cloud known; its provider package calls it from init,
// and a program links the clouds it serves by importing their packages.
// Registering a name twice panics: it is a programming error.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name()]; dup {
		panic(fmt.Sprintf("cloud %q registered twice", d.Name()))
	}
	drivers[d.Name()] = d
}

// Lookup returns the driver of a cloud.
func Lookup(name string) (Driver, error) {
	mu.RLock()
	d, ok := drivers[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unsupported value %q, want %s", name, OneOf(Names()))
	}
	return d, nil
}

// Names lists the registered clouds, the default one first.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == DefaultName:
			return -1
		case b == DefaultName:
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// NamesWhere lists the registered clouds whose driver satisfies keep, the
// default one first.
func NamesWhere(keep func(Driver) bool) []string {
	var out []string
	for _, n := range Names() {
		if d, err := Lookup(n); err == nil && keep(d) {
			out = append(out, n)
		}
	}
	return out
}

// OneOf joins names for a message: "a", "a or b", "a, b or c".
func OneOf(names []string) string {
	switch len(names) {
	case 0:
		return "none (no cloud is registered)"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
