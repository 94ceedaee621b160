package drain

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Guard counts evictions in flight per PodDisruptionBudget, across every
// drain that shares it, so parallel drains never issue more evictions for
// one budget's pods than its status.disruptionsAllowed. The eviction API
// enforces the budget too; the guard keeps parallel drains from racing it.
// An eviction stays in flight until its pod is gone.
type Guard struct {
	mu       sync.Mutex
	inFlight map[string]int
	peak     map[string]int
}

// NewGuard returns an empty guard.
func NewGuard() *Guard { return &Guard{inFlight: map[string]int{}, peak: map[string]int{}} }

// acquire reserves one eviction under every budget in pdbs, given their
// current status. It returns a release function, or the budget that has no
// room left and how many evictions of its pods are in flight.
func (g *Guard) acquire(pdbs []policyv1.PodDisruptionBudget) (release func(), full *policyv1.PodDisruptionBudget, inFlight int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range pdbs {
		if n := g.inFlight[pdbKey(&pdbs[i])]; n >= int(pdbs[i].Status.DisruptionsAllowed) {
			return nil, &pdbs[i], n
		}
	}
	keys := make([]string, len(pdbs))
	for i := range pdbs {
		keys[i] = pdbKey(&pdbs[i])
		g.inFlight[keys[i]]++
		g.peak[keys[i]] = max(g.peak[keys[i]], g.inFlight[keys[i]])
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, k := range keys {
				g.inFlight[k]--
			}
		})
	}, nil, 0
}

// Peak is the most evictions ever in flight at once for the budget
// namespace/name.
func (g *Guard) Peak(namespace, name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak[namespace+"/"+name]
}

func pdbKey(p *policyv1.PodDisruptionBudget) string { return p.Namespace + "/" + p.Name }

// matchingPDBs are the budgets of pdbs whose selector selects pod.
func matchingPDBs(pod *corev1.Pod, pdbs []policyv1.PodDisruptionBudget) ([]policyv1.PodDisruptionBudget, error) {
	var out []policyv1.PodDisruptionBudget
	for _, p := range pdbs {
		if p.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("PodDisruptionBudget %s: selector: %w", pdbKey(&p), err)
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}
