package upgrades

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"
)

// Components, as the skew policy names them.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubelet               = "kubelet"
)

// The skew rules, after https://kubernetes.io/releases/version-skew-policy/.
// Every limit is counted from the oldest API server, since in the middle of a
// roll a client may reach any of them.
const (
	SkewValidVersion            Rule = "valid-version"
	SkewAPIServersWithinOne     Rule = "apiservers-within-one-minor"
	SkewNotNewerThanAPIServer   Rule = "not-newer-than-apiserver"
	SkewKubeletAtMostThreeOlder Rule = "kubelet-at-most-three-minors-older"
	SkewControlPlaneAtMostOne   Rule = "control-plane-at-most-one-minor-older"
)

// Limits of the skew policy, in minors.
const (
	maxAPIServerSpread = 1
	maxKubeletLag      = 3
	maxControlPlaneLag = 1
)

// Versions are the component versions running in a cluster, one entry per
// instance.
type Versions struct {
	APIServers         []string
	ControllerManagers []string
	Schedulers         []string
	Kubelets           []string
}

// Violation is one instance outside the skew policy.
type Violation struct {
	Rule      Rule
	Component string
	Version   string
	Message   string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s (rule %s)", v.Component, v.Version, v.Message, v.Rule)
}

// CheckSkew lists every instance the version-skew policy forbids: kubelets
// newer than the oldest API server or more than 3 minors older;
// controller-managers and schedulers newer than the oldest API server or
// more than 1 minor older; API servers more than one minor apart.
func CheckSkew(s Versions) []Violation {
	var out []Violation
	apis := parseAll(KubeAPIServer, s.APIServers, &out)
	if len(apis) == 0 {
		return out
	}
	oldest, newest := apis[0], apis[0]
	for _, a := range apis[1:] {
		if a.v.LessThan(oldest.v) {
			oldest = a
		}
		if a.v.GreaterThan(newest.v) {
			newest = a
		}
	}
	if minorsBehind(oldest.v, newest.v) > maxAPIServerSpread {
		out = append(out, Violation{Rule: SkewAPIServersWithinOne, Component: KubeAPIServer, Version: oldest.s,
			Message: fmt.Sprintf("more than one minor behind the newest kube-apiserver %s", newest.s)})
	}
	check := func(component string, versions []string, maxLag int, rule Rule, lagWords string) {
		for _, c := range parseAll(component, versions, &out) {
			lag := minorsBehind(c.v, oldest.v)
			switch {
			case lag < 0:
				out = append(out, Violation{Rule: SkewNotNewerThanAPIServer, Component: component, Version: c.s,
					Message: fmt.Sprintf("newer than the oldest kube-apiserver %s", oldest.s)})
			case lag > maxLag:
				out = append(out, Violation{Rule: rule, Component: component, Version: c.s,
					Message: fmt.Sprintf("more than %s behind the oldest kube-apiserver %s", lagWords, oldest.s)})
			}
		}
	}
	check(KubeControllerManager, s.ControllerManagers, maxControlPlaneLag, SkewControlPlaneAtMostOne, "one minor")
	check(KubeScheduler, s.Schedulers, maxControlPlaneLag, SkewControlPlaneAtMostOne, "one minor")
	check(Kubelet, s.Kubelets, maxKubeletLag, SkewKubeletAtMostThreeOlder, "three minors")
	return out
}

// NodeGroupVersion is the Kubernetes version node groups are built at while
// the control plane moves to target: the oldest control-plane version until
// every control-plane machine runs target, so kubelets never lead an API
// server. It is never newer than target; with no control-plane machines it
// is target. Versions that do not parse are ignored.
func NodeGroupVersion(target string, controlPlaneMachineVersions []string) string {
	t, err := version.ParseSemantic(target)
	if err != nil {
		return target
	}
	oldest, oldestStr := t, target
	for _, s := range controlPlaneMachineVersions {
		v, err := version.ParseSemantic(s)
		if err != nil {
			continue
		}
		if v.LessThan(oldest) {
			oldest, oldestStr = v, s
		}
	}
	return oldestStr
}

type parsed struct {
	s string
	v *version.Version
}

// parseAll parses versions, reporting each that is not a version.
func parseAll(component string, versions []string, out *[]Violation) []parsed {
	var ps []parsed
	for _, s := range versions {
		v, err := version.ParseGeneric(s)
		if err != nil {
			*out = append(*out, Violation{Rule: SkewValidVersion, Component: component, Version: s, Message: "not a Kubernetes version"})
			continue
		}
		ps = append(ps, parsed{s: s, v: v})
	}
	return ps
}

// minorsBehind is how many minors v is behind ref (negative when ahead).
// Different majors count as far apart.
func minorsBehind(v, ref *version.Version) int {
	if v.Major() != ref.Major() {
		if v.Major() < ref.Major() {
			return 1 << 20
		}
		return -1 << 20
	}
	return int(ref.Minor()) - int(v.Minor())
}
