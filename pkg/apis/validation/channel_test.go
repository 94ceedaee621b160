package validation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/channels"
)

func TestValidateVersionInChannel(t *testing.T) {
	// A channel whose 1.37 range starts below the oldest patch it accepts.
	stable, err := os.ReadFile(filepath.Join("..", "..", "..", "channels", "stable"))
	if err != nil {
		t.Fatal(err)
	}
	strict := filepath.Join(t.TempDir(), "strict")
	if err := os.WriteFile(strict, []byte(strings.Replace(string(stable), "requiredVersion: 1.37.0", "requiredVersion: 1.37.1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	const stableListed = "it lists 1.35.x, 1.36.x, 1.37.x (recommended: 1.35.4, 1.36.3, 1.37.2); pick one of those, or another channel with spec.channel"
	for _, tc := range []struct {
		channel, version string
		want             []string // messages; none for a listed version
	}{
		{channel: "stable", version: "1.37.2"},
		{channel: "stable", version: "1.36.3"},
		{channel: "stable", version: "v1.35.0"},
		{channel: "alpha", version: "1.38.0"},
		{channel: "stable", version: "1.30.0", want: []string{`spec.kubernetesVersion: Invalid value: "1.30.0": channel stable does not list this version; ` + stableListed}},
		{channel: "stable", version: "1.39.0", want: []string{`spec.kubernetesVersion: Invalid value: "1.39.0": channel stable does not list this version; ` + stableListed}},
		{channel: "stable", version: "9.99.0", want: []string{`spec.kubernetesVersion: Invalid value: "9.99.0": channel stable does not list this version; ` + stableListed}},
		{channel: "stable", version: "1.38.0", want: []string{`spec.kubernetesVersion: Invalid value: "1.38.0": channel stable does not list this version; ` + stableListed}},
		{channel: "file://" + strict, version: "1.37.0", want: []string{`spec.kubernetesVersion: Invalid value: "1.37.0": channel file://` + strict + ` accepts 1.37 from 1.37.1 on; ` + stableListed}},
		// Not a version at all: ValidateCluster reports it, not this.
		{channel: "stable", version: "latest"},
	} {
		t.Run(tc.channel+"/"+tc.version, func(t *testing.T) {
			o := load(t, "sample.yaml")
			o.c.Spec.KubernetesVersion = tc.version
			ch, err := channels.Load(context.Background(), tc.channel)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ValidateVersionInChannel(o.c, ch) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
