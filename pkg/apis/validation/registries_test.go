package validation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func mirrors(m map[string][]string) func(o *objects) {
	return func(o *objects) { o.c.Spec.Containerd = &v1alpha1.ContainerdSpec{RegistryMirrors: m} }
}

func containerRegistry(r string) func(o *objects) {
	return func(o *objects) { o.c.Spec.Assets = &v1alpha1.AssetsSpec{ContainerRegistry: r} }
}

func TestValidRegistries(t *testing.T) {
	for name, mutate := range map[string]func(o *objects){
		"mirrors for named hosts and every host": mirrors(map[string][]string{
			"docker.io":                 {"https://mirror.gcr.io", "http://10.0.0.1:5000"},
			"registry.k8s.io":           {"https://k8s-mirror.example.com/v2/proxy"},
			"registry.example.com:5000": {"http://[fd00::1]:5000"},
			"10.1.2.3:5000":             {"http://10.0.0.1:5000"},
			"*":                         {"http://10.0.0.1:5000"},
		}),
		"container registry host":           containerRegistry("registry.example.com"),
		"container registry host:port/path": containerRegistry("10.0.0.1:5000/hull/images"),
	} {
		t.Run(name, func(t *testing.T) {
			o := load(t, "sample.yaml")
			mutate(o)
			if errs := ValidateCluster(o.c, o.igs); len(errs) > 0 {
				t.Fatalf("valid spec refused: %v", errs)
			}
		})
	}
}

func TestValidateRegistriesInvalid(t *testing.T) {
	const m = "spec.containerd.registryMirrors"
	runInvalidCases(t, []invalidCase{
		{name: "empty mirror list", mutate: mirrors(map[string][]string{"docker.io": {}}), want: []string{required(m + "[docker.io]")}},
		{name: "mirror without scheme", mutate: mirrors(map[string][]string{"docker.io": {"mirror.example.com"}}), want: []string{invalid(m + "[docker.io][0]")}},
		{name: "mirror with another scheme", mutate: mirrors(map[string][]string{"*": {"ftp://mirror.example.com"}}), want: []string{invalid(m + "[*][0]")}},
		{name: "mirror that does not parse", mutate: mirrors(map[string][]string{"*": {"http://[::1"}}), want: []string{invalid(m + "[*][0]")}},
		{name: "mirror with credentials", mutate: mirrors(map[string][]string{"*": {"https://u:p@mirror.example.com"}}), want: []string{invalid(m + "[*][0]")}},
		{name: "mirror with a bad port", mutate: mirrors(map[string][]string{"*": {"http://10.0.0.1:99999"}}), want: []string{invalid(m + "[*][0]")}},
		{name: "mirror listed twice", mutate: mirrors(map[string][]string{"*": {"http://10.0.0.1:5000", "http://10.0.0.1:5000"}}), want: []string{duplicate(m + "[*][1]")}},
		{name: "host with a scheme", mutate: mirrors(map[string][]string{"https://docker.io": {"http://10.0.0.1:5000"}}), want: []string{invalid(m + "[https://docker.io]")}},
		{name: "host with capitals", mutate: mirrors(map[string][]string{"Docker.IO": {"http://10.0.0.1:5000"}}), want: []string{invalid(m + "[Docker.IO]")}},
		{
			name:   "every error at once",
			mutate: mirrors(map[string][]string{"bad host": {}, "quay.io": {"quay-mirror"}}),
			want:   []string{invalid(m + "[bad host]"), required(m + "[bad host]"), invalid(m + "[quay.io][0]")},
		},
		{name: "container registry with a scheme", mutate: containerRegistry("https://registry.example.com"), want: []string{invalid("spec.assets.containerRegistry")}},
		{name: "container registry with a bad path", mutate: containerRegistry("registry.example.com/Hull"), want: []string{invalid("spec.assets.containerRegistry")}},
		{name: "container registry with a bad host", mutate: containerRegistry("registry_example/hull"), want: []string{invalid("spec.assets.containerRegistry")}},
	})
}

func TestMirrorErrorNamesTheFix(t *testing.T) {
	o := load(t, "sample.yaml")
	mirrors(map[string][]string{"docker.io": {"mirror.example.com"}})(o)
	errs := ValidateCluster(o.c, o.igs)
	want := `spec.containerd.registryMirrors[docker.io][0]: Invalid value: "mirror.example.com": must be an http:// or https:// URL such as https://mirror.example.com or http://10.0.0.1:5000`
	if len(errs) != 1 {
		t.Fatalf("errors: %v", errs)
	}
	if diff := cmp.Diff(want, errs[0].Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}
