package upgrades

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckSkew(t *testing.T) {
	tests := []struct {
		name string
		in   Versions
		want []Violation
	}{
		{
			name: "all at one version",
			in:   Versions{APIServers: []string{"1.37.2"}, ControllerManagers: []string{"1.37.2"}, Schedulers: []string{"1.37.2"}, Kubelets: []string{"1.37.2", "v1.37.2"}},
		},
		{
			name: "mid roll: apiservers one minor apart, kubelets behind",
			in: Versions{
				APIServers:         []string{"1.37.2", "1.36.3", "1.36.3"},
				ControllerManagers: []string{"1.36.3", "1.35.4"},
				Schedulers:         []string{"1.36.3"},
				Kubelets:           []string{"1.36.3", "1.33.0"},
			},
		},
		{
			name: "kubelet newer than the oldest apiserver",
			in:   Versions{APIServers: []string{"1.37.2", "1.36.3"}, Kubelets: []string{"1.37.2", "1.36.9"}},
			want: []Violation{{Rule: SkewNotNewerThanAPIServer, Component: Kubelet, Version: "1.37.2", Message: "newer than the oldest kube-apiserver 1.36.3"}},
		},
		{
			name: "kubelet four minors behind",
			in:   Versions{APIServers: []string{"1.37.2"}, Kubelets: []string{"1.34.0", "1.33.9"}},
			want: []Violation{{Rule: SkewKubeletAtMostThreeOlder, Component: Kubelet, Version: "1.33.9", Message: "more than three minors behind the oldest kube-apiserver 1.37.2"}},
		},
		{
			name: "controller-manager and scheduler",
			in:   Versions{APIServers: []string{"1.36.3"}, ControllerManagers: []string{"1.37.2"}, Schedulers: []string{"1.34.9"}},
			want: []Violation{
				{Rule: SkewNotNewerThanAPIServer, Component: KubeControllerManager, Version: "1.37.2", Message: "newer than the oldest kube-apiserver 1.36.3"},
				{Rule: SkewControlPlaneAtMostOne, Component: KubeScheduler, Version: "1.34.9", Message: "more than one minor behind the oldest kube-apiserver 1.36.3"},
			},
		},
		{
			name: "apiservers two minors apart",
			in:   Versions{APIServers: []string{"1.37.2", "1.35.4"}},
			want: []Violation{{Rule: SkewAPIServersWithinOne, Component: KubeAPIServer, Version: "1.35.4", Message: "more than one minor behind the newest kube-apiserver 1.37.2"}},
		},
		{
			name: "a version that does not parse",
			in:   Versions{APIServers: []string{"1.37.2", "latest"}, Kubelets: []string{""}},
			want: []Violation{
				{Rule: SkewValidVersion, Component: KubeAPIServer, Version: "latest", Message: "not a Kubernetes version"},
				{Rule: SkewValidVersion, Component: Kubelet, Version: "", Message: "not a Kubernetes version"},
			},
		},
		{
			name: "another major is far away",
			in:   Versions{APIServers: []string{"2.0.0"}, Kubelets: []string{"1.37.2"}},
			want: []Violation{{Rule: SkewKubeletAtMostThreeOlder, Component: Kubelet, Version: "1.37.2", Message: "more than three minors behind the oldest kube-apiserver 2.0.0"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, CheckSkew(tc.in)); diff != "" {
				t.Errorf("CheckSkew (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeGroupVersion(t *testing.T) {
	tests := []struct {
		name   string
		target string
		cp     []string
		want   string
	}{
		{"no control plane yet", "1.37.2", nil, "1.37.2"},
		{"control plane not started", "1.37.2", []string{"1.36.3", "1.36.3", "1.36.3"}, "1.36.3"},
		{"control plane half way", "1.37.2", []string{"1.37.2", "1.36.3", "1.37.2"}, "1.36.3"},
		{"control plane done", "1.37.2", []string{"1.37.2", "v1.37.2", "1.37.2"}, "1.37.2"},
		{"patch upgrade half way", "1.36.3", []string{"1.36.3", "1.36.1"}, "1.36.1"},
		{"never newer than target", "1.37.2", []string{"1.37.3"}, "1.37.2"},
		{"unknown versions ignored", "1.37.2", []string{"", "1.36.3"}, "1.36.3"},
	}
	for _, tc := range tests {
		if got := NodeGroupVersion(tc.target, tc.cp); got != tc.want {
			t.Errorf("%s: NodeGroupVersion(%s, %v) = %s, want %s", tc.name, tc.target, tc.cp, got, tc.want)
		}
	}
}
