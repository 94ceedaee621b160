package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// ValidateVersionInChannel refuses a kubernetesVersion that ch, the
// cluster's channel, does not list, or lists below the oldest patch it
// accepts: hull has no machine image, etcd version or upgrade path for it,
// so `update` could only fail later. It is kept apart from ValidateCluster,
// which needs no I/O, because loading a channel may (file://, https://), and
// because a cluster already running a version its channel has since dropped
// must still be updated, rolled and backed up; only writes of the spec
// (create, edit, replace, upgrade) call it.
func ValidateVersionInChannel(c *v1alpha1.Cluster, ch *channels.Channel) field.ErrorList {
	p := specPath.Child("kubernetesVersion")
	v := c.Spec.KubernetesVersion
	pv, err := version.ParseSemantic(v)
	if err != nil {
		return nil // ValidateCluster reports it
	}
	kv, err := ch.Lookup(v)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("channel %s does not list this version; %s", ch.Name(), listed(ch)))}
	}
	if req, err := version.ParseSemantic(kv.RequiredVersion); err == nil && pv.LessThan(req) {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("channel %s accepts %s from %s on; %s", ch.Name(), kv.Minor(), kv.RequiredVersion, listed(ch)))}
	}
	return nil
}

// listed names what the channel offers and how to choose otherwise.
func listed(ch *channels.Channel) string {
	var minors, recommended []string
	for _, m := range ch.Minors() {
		minors = append(minors, m+".x")
		if r, ok := ch.Recommended(m); ok {
			recommended = append(recommended, r)
		}
	}
	if len(minors) == 0 {
		return "it lists no versions; choose another channel with spec.channel"
	}
	return fmt.Sprintf("it lists %s (recommended: %s); pick one of those, or another channel with spec.channel",
		strings.Join(minors, ", "), strings.Join(recommended, ", "))
}
