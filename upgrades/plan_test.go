package upgrades

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/channels"
)

func load(t *testing.T, name string) *channels.Channel {
	t.Helper()
	c, err := channels.Load(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testChannel builds a channel from (minor, recommended, required, etcd)
// rows, newest first.
func testChannel(t *testing.T, name string, rows ...[4]string) *channels.Channel {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: hull.dev/v1alpha1\nkind: Channel\nmetadata:\n  name: %s\nspec:\n  kubernetesVersions:\n", name)
	for _, r := range rows {
		m := version.MustParseGeneric(r[0])
		fmt.Fprintf(&b, "  - range: \">=%s.0 <%d.%d.0\"\n    recommendedVersion: %s\n    requiredVersion: %s\n    etcdVersion: %s\n", r[0], m.Major(), m.Minor()+1, r[1], r[2], r[3])
		b.WriteString("    images:\n    - provider: local\n      architecture: amd64\n      name: \"hull-kubernetes-{version}\"\n")
	}
	c, err := channels.Parse(name, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlan(t *testing.T) {
	stable, alpha := load(t, "stable"), load(t, "alpha")
	required := testChannel(t, "required",
		[4]string{"1.37", "1.37.2", "1.37.1", "3.6.16"},
		[4]string{"1.36", "1.36.3", "1.36.0", "3.6.16"})
	etcd := testChannel(t, "etcd",
		[4]string{"1.38", "1.38.0", "1.38.0", "3.8.0"},
		[4]string{"1.37", "1.37.2", "1.37.0", "3.6.16"},
		[4]string{"1.36", "1.36.3", "1.36.0", "3.5.21"},
		[4]string{"1.35", "1.35.4", "1.35.0", "3.6.0"})

	tests := []struct {
		name      string
		current   string
		channel   *channels.Channel
		requested string
		want      *Step
		wantRule  Rule
		wantMsg   string
	}{
		{name: "patch first", current: "1.36.1", channel: stable,
			want: &Step{From: "1.36.1", To: "1.36.3", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "latest recommended patch of 1.36"}},
		{name: "then next minor", current: "1.36.3", channel: stable,
			want: &Step{From: "1.36.3", To: "1.37.2", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "next minor: recommended version of 1.37"}},
		{name: "past the recommended patch goes to the next minor", current: "1.36.5", channel: stable,
			want: &Step{From: "1.36.5", To: "1.37.2", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "next minor: recommended version of 1.37"}},
		{name: "v prefix", current: "v1.35.0", channel: stable,
			want: &Step{From: "v1.35.0", To: "1.35.4", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "latest recommended patch of 1.35"}},
		{name: "already latest", current: "1.37.2", channel: stable},
		{name: "past latest", current: "1.37.9", channel: stable},
		{name: "newer than the channel", current: "1.38.0", channel: stable},
		{name: "alpha goes on to 1.38", current: "1.37.2", channel: alpha,
			want: &Step{From: "1.37.2", To: "1.38.0", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "next minor: recommended version of 1.38"}},
		{name: "unlisted current moves into the channel", current: "1.34.9", channel: stable,
			want: &Step{From: "1.34.9", To: "1.35.4", EtcdTo: "3.6.16", Reason: "next minor: recommended version of 1.35"}},
		{name: "too old for the channel", current: "1.33.2", channel: stable,
			wantRule: RuleListedInChannel, wantMsg: "channel stable lists no 1.34 release"},

		{name: "requested patch", current: "1.36.1", channel: stable, requested: "1.36.2",
			want: &Step{From: "1.36.1", To: "1.36.2", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "requested"}},
		{name: "requested next minor", current: "1.36.3", channel: stable, requested: "v1.37.2",
			want: &Step{From: "1.36.3", To: "1.37.2", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "requested"}},
		{name: "requested current", current: "1.37.2", channel: stable, requested: "1.37.2"},
		{name: "no minor skip", current: "1.35.4", channel: stable, requested: "1.37.2",
			wantRule: RuleNoMinorSkip, wantMsg: "upgrade to 1.36 first"},
		{name: "no minor skip from an old patch", current: "1.35.0", channel: stable, requested: "1.37.0",
			wantRule: RuleNoMinorSkip, wantMsg: "upgrade to 1.36 first"},
		{name: "no major change", current: "1.37.2", channel: stable, requested: "2.0.0",
			wantRule: RuleNoMinorSkip, wantMsg: "major version change"},
		{name: "downgrade minor", current: "1.37.2", channel: stable, requested: "1.36.3",
			wantRule: RuleNoDowngrade, wantMsg: "older than the running 1.37.2"},
		{name: "downgrade patch", current: "1.36.3", channel: stable, requested: "1.36.1",
			wantRule: RuleNoDowngrade, wantMsg: "hull does not downgrade"},
		{name: "unknown version", current: "1.37.2", channel: stable, requested: "1.38.0",
			wantRule: RuleListedInChannel, wantMsg: "channel stable does not list Kubernetes 1.38.0 (it lists 1.35.x, 1.36.x, 1.37.x)"},
		{name: "pre-release is not listed", current: "1.37.2", channel: alpha, requested: "1.38.0-rc.1",
			wantRule: RuleListedInChannel, wantMsg: "does not list Kubernetes 1.38.0-rc.1"},
		{name: "not a version", current: "1.36.3", channel: stable, requested: "1.37",
			wantRule: RuleValidVersion, wantMsg: `"1.37" is not a semantic version`},
		{name: "below required", current: "1.36.3", channel: required, requested: "1.37.0",
			wantRule: RuleRequiredMinimum, wantMsg: "channel required requires at least 1.37.1 for 1.37"},
		{name: "at required", current: "1.36.3", channel: required, requested: "1.37.1",
			want: &Step{From: "1.36.3", To: "1.37.1", EtcdFrom: "3.6.16", EtcdTo: "3.6.16", Reason: "requested"}},
		{name: "etcd one minor forward", current: "1.36.3", channel: etcd,
			want: &Step{From: "1.36.3", To: "1.37.2", EtcdFrom: "3.5.21", EtcdTo: "3.6.16", Reason: "next minor: recommended version of 1.37"}},
		{name: "etcd two minors forward", current: "1.37.2", channel: etcd,
			wantRule: RuleEtcdOneMinor, wantMsg: "etcd would move from 3.6.16 to 3.8.0; etcd may move forward by at most one minor"},
		{name: "etcd backward", current: "1.35.4", channel: etcd, requested: "1.36.3",
			wantRule: RuleEtcdOneMinor, wantMsg: "etcd would move back from 3.6.0 to 3.5.21"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.current, tc.channel, tc.requested)
			if tc.wantRule != "" {
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("Plan = %+v, %v; want refusal by %s", got, err, tc.wantRule)
				}
				if re.Rule != tc.wantRule || !strings.Contains(re.Reason, tc.wantMsg) {
					t.Errorf("refused by %s: %q; want %s: %q", re.Rule, re.Reason, tc.wantRule, tc.wantMsg)
				}
				if !strings.Contains(err.Error(), "rule "+string(tc.wantRule)) {
					t.Errorf("error %q does not name the rule", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPath(t *testing.T) {
	stable := load(t, "stable")
	etcd := testChannel(t, "etcd",
		[4]string{"1.37", "1.37.2", "1.37.0", "3.8.0"},
		[4]string{"1.36", "1.36.3", "1.36.0", "3.6.16"})
	tests := []struct {
		current string
		channel *channels.Channel
		want    []string // To of each step
		wantErr string
	}{
		{current: "1.35.0", channel: stable, want: []string{"1.35.4", "1.36.3", "1.37.2"}},
		{current: "1.35.4", channel: stable, want: []string{"1.36.3", "1.37.2"}},
		{current: "1.36.3", channel: stable, want: []string{"1.37.2"}},
		{current: "1.37.2", channel: stable},
		{current: "1.36.1", channel: etcd, want: []string{"1.36.3"}, wantErr: "rule etcd-one-minor"},
	}
	for _, tc := range tests {
		t.Run(tc.current+"/"+tc.channel.Name(), func(t *testing.T) {
			steps, err := Path(tc.current, tc.channel)
			if msg := fmt.Sprint(err); (tc.wantErr == "") != (err == nil) || !strings.Contains(msg, tc.wantErr) {
				t.Errorf("Path error = %v, want %q", err, tc.wantErr)
			}
			var got []string
			from := tc.current
			for _, s := range steps {
				if s.From != from {
					t.Errorf("step %+v does not start where the last ended (%s)", s, from)
				}
				from = s.To
				got = append(got, s.To)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
		})
	}
}
