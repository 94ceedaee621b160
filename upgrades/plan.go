package upgrades

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/channels"
)

// Rule names one reason an upgrade is refused.
type Rule string

// The upgrade rules. Their names appear in refusals, so users can look them up.
const (
	// RuleValidVersion: both versions must be semantic versions.
	RuleValidVersion Rule = "valid-version"
	// RuleNoDowngrade: Kubernetes and etcd versions only move forward.
	RuleNoDowngrade Rule = "no-downgrade"
	// RuleNoMinorSkip: one minor at a time (1.35 -> 1.36 -> 1.37).
	RuleNoMinorSkip Rule = "no-minor-skip"
	// RuleListedInChannel: the target must be in a range of the channel.
	RuleListedInChannel Rule = "listed-in-channel"
	// RuleRequiredMinimum: the target must be at least its minor's requiredVersion.
	RuleRequiredMinimum Rule = "required-minimum"
	// RuleEtcdOneMinor: etcd may move forward by at most one minor per upgrade.
	RuleEtcdOneMinor Rule = "etcd-one-minor"
)

// RefusedError is an upgrade the rules forbid.
type RefusedError struct {
	Rule     Rule
	From, To string
	// Reason says what to do instead, e.g. "upgrade to 1.36 first".
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cannot upgrade Kubernetes %s to %s (rule %s): %s", e.From, e.To, e.Rule, e.Reason)
}

// Step is one upgrade: Kubernetes From -> To, and etcd EtcdFrom -> EtcdTo
// (EtcdFrom is empty when the channel does not list From).
type Step struct {
	From, To         string
	EtcdFrom, EtcdTo string
	Reason           string
}

// Plan proposes the next upgrade of a cluster at current. Without a request
// it is the recommended patch of the current minor if the cluster is behind
// it, else the next minor's recommended version; nil when the cluster is at
// or past the channel's latest recommended version. With a request it is
// that version, if every rule allows it; nil when the cluster already runs
// it. A refusal is a *RefusedError.
func Plan(current string, ch *channels.Channel, requested string) (*Step, error) {
	cur, err := version.ParseSemantic(current)
	if err != nil {
		return nil, &RefusedError{Rule: RuleValidVersion, From: current, To: requested, Reason: fmt.Sprintf("the cluster's version %q is not a semantic version", current)}
	}
	if requested != "" {
		return planRequested(current, cur, ch, requested)
	}
	return planNext(current, cur, ch)
}

func planNext(current string, cur *version.Version, ch *channels.Channel) (*Step, error) {
	if kv, ok := ch.VersionsFor(current); ok {
		rec := version.MustParseSemantic(kv.RecommendedVersion)
		if cur.LessThan(rec) {
			return check(current, cur, ch, kv.RecommendedVersion, fmt.Sprintf("latest recommended patch of %s", kv.Minor()))
		}
	}
	latest := version.MustParseSemantic(ch.Latest())
	if !version.MajorMinor(cur.Major(), cur.Minor()).LessThan(version.MajorMinor(latest.Major(), latest.Minor())) {
		return nil, nil
	}
	next := fmt.Sprintf("%d.%d", cur.Major(), cur.Minor()+1)
	kv, ok := ch.VersionsFor(next)
	if !ok {
		return nil, &RefusedError{Rule: RuleListedInChannel, From: current, To: ch.Latest(),
			Reason: fmt.Sprintf("channel %s lists no %s release, and minors cannot be skipped", ch.Name(), next)}
	}
	return check(current, cur, ch, kv.RecommendedVersion, fmt.Sprintf("next minor: recommended version of %s", next))
}

func planRequested(current string, cur *version.Version, ch *channels.Channel, requested string) (*Step, error) {
	req, err := version.ParseSemantic(requested)
	if err != nil {
		return nil, &RefusedError{Rule: RuleValidVersion, From: current, To: requested, Reason: fmt.Sprintf("%q is not a semantic version such as 1.37.2", requested)}
	}
	to := strings.TrimPrefix(requested, "v")
	if req.EqualTo(cur) {
		return nil, nil
	}
	return check(current, cur, ch, to, "requested")
}

// check applies every rule to current -> to and returns the step.
func check(current string, cur *version.Version, ch *channels.Channel, to, reason string) (*Step, error) {
	tv := version.MustParseSemantic(to)
	refuse := func(rule Rule, format string, args ...any) (*Step, error) {
		return nil, &RefusedError{Rule: rule, From: current, To: to, Reason: fmt.Sprintf(format, args...)}
	}
	if tv.LessThan(cur) {
		return refuse(RuleNoDowngrade, "%s is older than the running %s; hull does not downgrade (restore an etcd backup instead)", to, current)
	}
	if tv.Major() != cur.Major() {
		return refuse(RuleNoMinorSkip, "a major version change is not supported")
	}
	if tv.Minor() > cur.Minor()+1 {
		return refuse(RuleNoMinorSkip, "minors cannot be skipped: upgrade to %d.%d first", cur.Major(), cur.Minor()+1)
	}
	kv, err := ch.Lookup(to)
	if err != nil {
		return refuse(RuleListedInChannel, "%v", err)
	}
	if req := version.MustParseSemantic(kv.RequiredVersion); tv.LessThan(req) {
		return refuse(RuleRequiredMinimum, "channel %s requires at least %s for %s (recommended %s)", ch.Name(), kv.RequiredVersion, kv.Minor(), kv.RecommendedVersion)
	}
	step := &Step{From: current, To: to, EtcdTo: kv.EtcdVersion, Reason: reason}
	if from, ok := ch.VersionsFor(current); ok && from.Contains(current) {
		step.EtcdFrom = from.EtcdVersion
		if err := checkEtcd(step.EtcdFrom, step.EtcdTo); err != nil {
			return refuse(RuleEtcdOneMinor, "%v", err)
		}
	}
	return step, nil
}

// CheckClusterEtcd checks the step against the etcd version a cluster runs,
// which its spec may pin away from the channel's: the target's etcd must be
// that version or at most one minor newer. It records the version as the
// step's EtcdFrom.
func (s *Step) CheckClusterEtcd(clusterEtcd string) error {
	if clusterEtcd == "" || s.EtcdTo == "" {
		return nil
	}
	s.EtcdFrom = strings.TrimPrefix(clusterEtcd, "v")
	if err := checkEtcd(s.EtcdFrom, s.EtcdTo); err != nil {
		return &RefusedError{Rule: RuleEtcdOneMinor, From: s.From, To: s.To, Reason: err.Error()}
	}
	return nil
}

// checkEtcd allows etcd to stay, or to move forward by at most one minor.
func checkEtcd(from, to string) error {
	f, err := version.ParseSemantic(from)
	if err != nil {
		return fmt.Errorf("etcd %q is not a semantic version", from)
	}
	t, err := version.ParseSemantic(to)
	if err != nil {
		return fmt.Errorf("etcd %q is not a semantic version", to)
	}
	switch {
	case t.LessThan(f):
		return fmt.Errorf("etcd would move back from %s to %s; etcd cannot be downgraded", from, to)
	case t.Major() != f.Major() || t.Minor() > f.Minor()+1:
		return fmt.Errorf("etcd would move from %s to %s; etcd may move forward by at most one minor per upgrade", from, to)
	}
	return nil
}

// maxPathSteps bounds Path against a channel that never converges.
const maxPathSteps = 100

// Path is every step from current to the channel's latest recommended
// version: the latest patch of each minor, then the next minor, one at a
// time. It is empty when no upgrade is needed.
func Path(current string, ch *channels.Channel) ([]Step, error) {
	var steps []Step
	for cur := current; len(steps) < maxPathSteps; {
		step, err := Plan(cur, ch, "")
		if err != nil {
			return steps, err
		}
		if step == nil {
			return steps, nil
		}
		steps = append(steps, *step)
		cur = step.To
	}
	return steps, fmt.Errorf("upgrade path from %s in channel %s has more than %d steps", current, ch.Name(), maxPathSteps)
}
