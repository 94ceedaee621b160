package channels

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEmbeddedChannels(t *testing.T) {
	tests := []struct {
		name       string
		wantMinors []string
		wantLatest string
	}{
		{name: "stable", wantMinors: []string{"1.35", "1.36", "1.37"}, wantLatest: "1.37.2"},
		{name: "alpha", wantMinors: []string{"1.35", "1.36", "1.37", "1.38"}, wantLatest: "1.38.0"},
		{name: "", wantMinors: []string{"1.35", "1.36", "1.37"}, wantLatest: "1.37.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(context.Background(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantMinors, c.Minors()); diff != "" {
				t.Errorf("Minors() (-want +got):\n%s", diff)
			}
			if got := c.Latest(); got != tc.wantLatest {
				t.Errorf("Latest() = %q, want %q", got, tc.wantLatest)
			}
		})
	}
}

func TestStableQueries(t *testing.T) {
	c, err := Load(context.Background(), "stable")
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		Recommended, Required, Etcd string
		Listed                      bool
	}
	ask := func(v string) answer {
		var a answer
		a.Recommended, a.Listed = c.Recommended(v)
		a.Required, _ = c.Required(v)
		a.Etcd, _ = c.EtcdFor(v)
		return a
	}
	tests := []struct {
		version string
		want    answer
	}{
		{"1.35.1", answer{"1.35.4", "1.35.0", "3.6.16", true}},
		{"1.36.0", answer{"1.36.3", "1.36.0", "3.6.16", true}},
		{"v1.37.2", answer{"1.37.2", "1.37.0", "3.6.16", true}},
		{"1.34.9", answer{}},
		{"1.38.0", answer{}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, ask(tc.version)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.version, diff)
		}
	}

	images := []struct {
		provider, arch, version string
		want                    Image
		wantErr                 string
	}{
		{"local", "amd64", "1.36.3", Image{Provider: "local", Architecture: "amd64", Name: "hull-kubernetes-1.36.3"}, ""},
		{"aws", "amd64", "v1.37.1", Image{Provider: "aws", Architecture: "amd64", Name: "hull-kubernetes-1.37.1-amd64-*", Owner: "self"}, ""},
		{"aws", "arm64", "1.35.4", Image{Provider: "aws", Architecture: "arm64", Name: "hull-kubernetes-1.35.4-arm64-*", Owner: "self"}, ""},
		{"aws", "riscv64", "1.35.4", Image{}, "no aws/riscv64 image"},
		{"local", "amd64", "1.38.0", Image{}, "does not list Kubernetes 1.38.0"},
	}
	for _, tc := range images {
		got, err := c.ImageFor(tc.provider, tc.arch, tc.version)
		if msg := errString(err); !strings.Contains(msg, tc.wantErr) || (tc.wantErr == "") != (err == nil) {
			t.Errorf("ImageFor(%s, %s, %s) error %q, want %q", tc.provider, tc.arch, tc.version, msg, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ImageFor(%s, %s, %s) (-want +got):\n%s", tc.provider, tc.arch, tc.version, diff)
		}
	}

	base, err := c.BaseImageFor("aws", "arm64")
	if want := (Image{Provider: "aws", Architecture: "arm64", Name: "debian-13-arm64-*", Owner: "136693071363"}); err != nil || base != want {
		t.Errorf("BaseImageFor(aws, arm64) = %+v, %v, want %+v", base, err, want)
	}
	if _, err := c.BaseImageFor("local", "amd64"); err == nil || !strings.Contains(err.Error(), "no local/amd64 base image") {
		t.Errorf("BaseImageFor(local, amd64) error %v, want no local/amd64 base image", err)
	}
}

func TestLoadFileAndHTTPS(t *testing.T) {
	data, err := embedded.ReadFile("alpha")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alpha.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/channels/alpha" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", srv.URL)
	}
	l := Loader{HTTPClient: srv.Client()}

	for _, ref := range []string{"file://" + path, srv.URL + "/channels/alpha"} {
		c, err := l.Load(context.Background(), ref)
		if err != nil {
			t.Fatalf("Load(%s): %v", ref, err)
		}
		if c.Latest() != "1.38.0" || c.Name() != ref {
			t.Errorf("Load(%s): latest %s, name %s", ref, c.Latest(), c.Name())
		}
	}

	refused := []struct{ ref, want string }{
		{srv.URL + "/missing", "404 Not Found"},
		{"http://127.0.0.1:1/stable", "use https://"},
		{"file://" + filepath.Join(t.TempDir(), "none"), "no such file"},
		{"beta", "no such channel"},
		{"Stable!", "must be a channel name"},
	}
	for _, tc := range refused {
		_, err := l.Load(context.Background(), tc.ref)
		if !strings.Contains(errString(err), tc.want) || !strings.Contains(errString(err), "channel "+tc.ref) {
			t.Errorf("Load(%s) = %v, want an error naming the channel and %q", tc.ref, err, tc.want)
		}
	}
}

// channelHeader is 6 lines; each entry is 8 lines, so entry i starts on line
// 7+8i and its recommendedVersion is on line 8+8i.
const channelHeader = `apiVersion: hull.dev/v1alpha1
kind: Channel
metadata:
  name: test
spec:
  kubernetesVersions:
`

func entry(rng, recommended, required string) string {
	return `  - range: "` + rng + `"
    recommendedVersion: ` + recommended + `
    requiredVersion: ` + required + `
    etcdVersion: 3.6.16
    images:
    - provider: local
      architecture: amd64
      name: "hull-kubernetes-{version}"
`
}

var (
	entry37 = entry(">=1.37.0 <1.38.0", "1.37.2", "1.37.0")
	entry36 = entry(">=1.36.0 <1.37.0", "1.36.3", "1.36.0")
	good    = channelHeader + entry37 + entry36
)

func TestParseGood(t *testing.T) {
	c, err := Parse("test", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.36", "1.37"}, c.Minors()); diff != "" {
		t.Errorf("Minors() (-want +got):\n%s", diff)
	}
}

func TestBadChannelsNameLineAndField(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []FieldError // Msg is a substring
	}{
		{
			name: "bad semver",
			data: strings.Replace(good, "recommendedVersion: 1.36.3", "recommendedVersion: 1.36.x", 1),
			want: []FieldError{{16, "spec.kubernetesVersions[1].recommendedVersion", `"1.36.x" is not a semantic version`}},
		},
		{
			name: "wrong type names the line and the list index",
			data: strings.Replace(good, "recommendedVersion: 1.36.3", "recommendedVersion: [1]", 1),
			want: []FieldError{{16, "spec.kubernetesVersions[1].recommendedVersion", "wrong type: got array, want string"}},
		},
		{
			name: "wrong type of a nested list item",
			data: strings.Replace(good, "      architecture: amd64\n", "      architecture: {a: b}\n", 1),
			want: []FieldError{{13, "spec.kubernetesVersions[0].images[0].architecture", "wrong type: got object, want string"}},
		},
		{
			name: "unknown field",
			data: strings.Replace(good, "    requiredVersion: 1.36.0\n", "    requiredVersion: 1.36.0\n    etcd: 3.6.16\n", 1),
			want: []FieldError{{18, "spec.kubernetesVersions[1].etcd", "unknown field"}},
		},
		{
			name: "unknown image field",
			data: strings.Replace(good, "      architecture: amd64\n", "      arch: amd64\n", 1),
			want: []FieldError{{13, "spec.kubernetesVersions[0].images[0].arch", "unknown field"}},
		},
		{
			name: "missing recommended points at its entry",
			data: strings.Replace(good, "    recommendedVersion: 1.36.3\n", "", 1),
			want: []FieldError{{15, "spec.kubernetesVersions[1].recommendedVersion", "required"}},
		},
		{
			name: "recommended outside its range",
			data: strings.Replace(good, "recommendedVersion: 1.36.3", "recommendedVersion: 1.37.1", 1),
			want: []FieldError{{16, "spec.kubernetesVersions[1].recommendedVersion", `1.37.1 is outside its range ">=1.36.0 <1.37.0"`}},
		},
		{
			name: "required newer than recommended",
			data: strings.Replace(good, "requiredVersion: 1.36.0", "requiredVersion: 1.36.5", 1),
			want: []FieldError{{17, "spec.kubernetesVersions[1].requiredVersion", "newer than recommendedVersion 1.36.3"}},
		},
		{
			name: "ranges overlapping",
			data: channelHeader + entry37 + entry(">=1.37.1 <1.38.0", "1.37.2", "1.37.1"),
			want: []FieldError{{15, "spec.kubernetesVersions[1].range", `overlaps spec.kubernetesVersions[0].range`}},
		},
		{
			name: "minor listed twice",
			data: channelHeader + entry(">=1.37.0 <1.37.2", "1.37.1", "1.37.0") + entry(">=1.37.2 <1.38.0", "1.37.2", "1.37.2"),
			want: []FieldError{{15, "spec.kubernetesVersions[1].range", "minor 1.37 is already listed"}},
		},
		{
			name: "range spanning two minors",
			data: channelHeader + entry(">=1.36.0 <1.38.0", "1.37.2", "1.37.0"),
			want: []FieldError{{7, "spec.kubernetesVersions[0].range", "spans more than minor 1.36"}},
		},
		{
			name: "range without upper bound",
			data: channelHeader + entry(">=1.37.0", "1.37.2", "1.37.0"),
			want: []FieldError{{7, "spec.kubernetesVersions[0].range", "needs a lower and an upper bound"}},
		},
		{
			name: "oldest first",
			data: channelHeader + entry36 + entry37,
			want: []FieldError{{15, "spec.kubernetesVersions[1].range", "list minors newest first"}},
		},
		{
			name: "aws image without owner, and a second local/amd64 image",
			data: strings.Replace(good, "    images:\n", "    images:\n    - provider: aws\n      architecture: amd64\n      name: \"x-{version}-*\"\n    - provider: local\n      architecture: amd64\n      name: other\n", 1),
			want: []FieldError{
				{12, "spec.kubernetesVersions[0].images[0].owner", "required for aws"},
				{18, "spec.kubernetesVersions[0].images[2]", "second local/amd64 image (first is spec.kubernetesVersions[0].images[1])"},
			},
		},
		{
			name: "wrong kind and no versions",
			data: "apiVersion: hull.dev/v1alpha1\nkind: Chanel\nmetadata:\n  name: test\nspec: {}\n",
			want: []FieldError{
				{2, "kind", `must be "Channel"`},
				{5, "spec.kubernetesVersions", "required"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test", []byte(tc.data))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse: %v, want *InvalidError", err)
			}
			var got []FieldError
			for i, fe := range ie.Errs {
				g := FieldError{Line: fe.Line, Field: fe.Field, Msg: fe.Msg}
				if i < len(tc.want) && strings.Contains(fe.Msg, tc.want[i].Msg) {
					g.Msg = tc.want[i].Msg
				}
				got = append(got, g)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
			first := tc.want[0]
			if prefix := "channel test: " + (&FieldError{Line: first.Line, Field: first.Field}).Error(); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestErrorMessageFormat(t *testing.T) {
	_, err := Parse("stable", []byte(strings.Replace(good, "recommendedVersion: 1.36.3", "recommendedVersion: 1.36.x", 1)))
	want := `channel stable: line 16: spec.kubernetesVersions[1].recommendedVersion: "1.36.x" is not a semantic version`
	if errString(err) != want {
		t.Errorf("error:\n got %s\nwant %s", errString(err), want)
	}
}

func TestMalformedYAMLNamesLine(t *testing.T) {
	_, err := Parse("test", []byte(good+"    recommendedVersion: 1.36.2\n"))
	if !strings.Contains(errString(err), "line 23") || !strings.Contains(errString(err), "recommendedVersion") {
		t.Errorf("duplicate key: %v, want line 23 and the key named", err)
	}
}

func TestLineOf(t *testing.T) {
	lines := scanLines([]byte(good))
	tests := []struct {
		path string
		want int
	}{
		{"apiVersion", 1},
		{"metadata.name", 4},
		{"spec.kubernetesVersions", 6},
		{"spec.kubernetesVersions[0]", 7},
		{"spec.kubernetesVersions[0].range", 7},
		{"spec.kubernetesVersions[1].etcdVersion", 18},
		{"spec.kubernetesVersions[1].images[0].name", 22},
		{"spec.kubernetesVersions[1].images[3].name", 19},
		{"spec.kubernetesVersions[5].range", 6},
		{"nothing", 0},
	}
	for _, tc := range tests {
		if got := lineOf(lines, tc.path); got != tc.want {
			t.Errorf("lineOf(%s) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
