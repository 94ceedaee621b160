package completion

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestLocalRegistryMirror: the local cloud makes its registry every host's
// mirror, unless the user named mirrors or a container registry.
func TestLocalRegistryMirror(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *v1alpha1.ClusterSpec)
		want   *v1alpha1.ContainerdSpec
	}{
		{
			name: "nothing given", mutate: func(*v1alpha1.ClusterSpec) {},
			want: &v1alpha1.ContainerdSpec{RegistryMirrors: map[string][]string{"*": {"http://172.20.32.1:5000"}}},
		},
		{
			name: "user mirrors kept as written",
			mutate: func(s *v1alpha1.ClusterSpec) {
				s.Containerd = &v1alpha1.ContainerdSpec{RegistryMirrors: map[string][]string{"docker.io": {"https://mirror.example.com"}}}
			},
			want: &v1alpha1.ContainerdSpec{RegistryMirrors: map[string][]string{"docker.io": {"https://mirror.example.com"}}},
		},
		{
			name: "container registry: no mirror added",
			mutate: func(s *v1alpha1.ClusterSpec) {
				s.Assets = &v1alpha1.AssetsSpec{ContainerRegistry: "registry.example.com/hull"}
			},
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, igs := load(t, filepath.Join("testdata", "minimal.yaml"))
			tc.mutate(&c.Spec)
			got, _, err := Complete(c, igs, Options{})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.Spec.Containerd); diff != "" {
				t.Errorf("containerd (-want +got):\n%s", diff)
			}
		})
	}
}
