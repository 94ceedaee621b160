package drain

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hullproject/hull/pkg/kube/kubetest"
)

// startControllerManager runs a real kube-controller-manager (only the
// disruption controller, which keeps PodDisruptionBudget status current)
// from the directory of the harness's kube-apiserver.
func startControllerManager(t *testing.T, s *kubetest.Server) {
	t.Helper()
	bin := filepath.Join(filepath.Dir(s.Binaries.APIServer), "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no kube-controller-manager next to %s: %v", s.Binaries.APIServer, err)
	}
	dir := t.TempDir()
	rc := s.RESTConfig()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["t"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	kc.AuthInfos["t"] = &clientcmdapi.AuthInfo{ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData}
	kc.Contexts["t"] = &clientcmdapi.Context{Cluster: "t", AuthInfo: "t"}
	kc.CurrentContext = "t"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "kcm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig="+path, "--controllers=disruption", "--leader-elect=false", "--secure-port=0", "--v=1")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("kube-controller-manager log tail:\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
}

// evictionRecorder wraps the client's transport and records the eviction
// requests that really go to the API server: which pod, when, and the answer.
type evictionRecorder struct {
	delay time.Duration // held before each eviction is sent, to widen races

	mu       sync.Mutex
	inFlight map[string]int // by label group (see groupOf)
	peak     map[string]int
	calls    []evictionCall
	groupOf  func(pod string) string
}

type evictionCall struct {
	Pod        string
	Start, End time.Time
	Code       int
}

func (r *evictionRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/eviction") {
			return rt.RoundTrip(req)
		}
		parts := strings.Split(req.URL.Path, "/")
		pod := parts[len(parts)-2]
		g := r.groupOf(pod)
		r.mu.Lock()
		r.inFlight[g]++
		r.peak[g] = max(r.peak[g], r.inFlight[g])
		r.mu.Unlock()
		start := time.Now()
		time.Sleep(r.delay)
		resp, err := rt.RoundTrip(req)
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		r.mu.Lock()
		r.inFlight[g]--
		r.calls = append(r.calls, evictionCall{Pod: pod, Start: start, End: time.Now(), Code: code})
		r.mu.Unlock()
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func recordingClient(t *testing.T, s *kubetest.Server, r *evictionRecorder) kubernetes.Interface {
	t.Helper()
	r.inFlight, r.peak = map[string]int{}, map[string]int{}
	cfg := s.RESTConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return r.wrap(rt) }
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mkNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mkNode(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

type podSpec struct {
	labels   map[string]string
	owner    *metav1.OwnerReference
	emptyDir bool
	notReady bool
}

// mkPod creates a pod bound to node and, as no kubelet runs, marks it
// Running (and Ready unless notReady) through the status subresource.
func mkPod(t *testing.T, c kubernetes.Interface, ns, name, node string, ps podSpec) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: ps.labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	if ps.owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ps.owner}
	}
	if ps.emptyDir {
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	p, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := corev1.ConditionTrue
	if ps.notReady {
		ready = corev1.ConditionFalse
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}
	p, err = c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mkPDB creates a budget and waits until the disruption controller has
// computed its status.
func mkPDB(t *testing.T, c kubernetes.Interface, ns, name string, sel map[string]string, minAvailable int, wantAllowed int32) {
	t.Helper()
	ma := intstr.FromInt32(int32(minAvailable))
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &ma, Selector: &metav1.LabelSelector{MatchLabels: sel}},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("PDB %s/%s to allow %d disruptions", ns, name, wantAllowed), func() (bool, string) {
		p, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.ObservedGeneration == p.Generation && p.Status.DisruptionsAllowed == wantAllowed,
			fmt.Sprintf("%+v", p.Status)
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (ok bool, err error) {
		ok, last = cond()
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
	}
}

func podNames(t *testing.T, c kubernetes.Interface, ns, node string) []string {
	t.Helper()
	l, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out
}

// reports collects a Drainer's report lines.
type reports struct {
	mu    sync.Mutex
	lines []string
}

func (r *reports) add(s string) { r.mu.Lock(); r.lines = append(r.lines, s); r.mu.Unlock() }
func (r *reports) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}
