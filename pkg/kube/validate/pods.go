package validate

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkPods requires each control-plane component's pod on every
// control-plane node, and every system-critical pod in kube-system, to be
// ready. A pod is reported once even when both checks apply.
func (r *Result) checkPods(controlPlane []string, pods []corev1.Pod) {
	reported := map[string]bool{}
	for _, node := range controlPlane {
		for _, component := range controlPlaneComponents {
			pod := findStaticPod(pods, component, node)
			if pod == nil {
				r.fail(KindPod, "kube-system/"+component+"-"+node, "control-plane pod %s is missing on node %s", component, node)
				continue
			}
			reported[pod.Name] = true
			if ready, why := podReady(pod); !ready {
				r.fail(KindPod, podRef(pod), "control-plane pod %s on node %s is not ready: %s", podRef(pod), node, why)
			}
		}
	}
	for i := range pods {
		pod := &pods[i]
		if reported[pod.Name] || !slices.Contains(criticalPriorityClasses, pod.Spec.PriorityClassName) {
			continue
		}
		if pod.Status.Phase == corev1.PodSucceeded {
			continue // a finished job
		}
		if ready, why := podReady(pod); !ready {
			r.fail(KindPod, podRef(pod), "%s pod %s is not ready: %s", pod.Spec.PriorityClassName, podRef(pod), why)
		}
	}
}

// findStaticPod finds a component's pod on a node: the kubelet names the
// mirror pod of a static pod <component>-<node>; failing that, any pod on
// the node whose name starts with <component>-.
func findStaticPod(pods []corev1.Pod, component, node string) *corev1.Pod {
	for i := range pods {
		if pods[i].Name == component+"-"+node && pods[i].Spec.NodeName == node {
			return &pods[i]
		}
	}
	for i := range pods {
		p := &pods[i]
		if strings.HasPrefix(p.Name, component+"-") && p.Spec.NodeName == node {
			return p
		}
	}
	return nil
}

// podRef is namespace/name.
func podRef(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// podReady reads the Ready condition; why names what holds the pod back.
func podReady(p *corev1.Pod) (ready bool, why string) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true, ""
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return false, joinNonEmpty(": ", "failed", joinNonEmpty(": ", p.Status.Reason, p.Status.Message))
	}
	if p.Spec.NodeName == "" {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return false, joinNonEmpty(": ", "not scheduled", joinNonEmpty(": ", c.Reason, c.Message))
			}
		}
		return false, "not scheduled yet"
	}
	var reasons []string
	for _, c := range p.Spec.InitContainers {
		st := containerStatus(p.Status.InitContainerStatuses, c.Name)
		if st != nil && st.State.Terminated != nil && st.State.Terminated.ExitCode == 0 {
			continue // done
		}
		if st != nil && st.Ready {
			continue // a sidecar that is up
		}
		reasons = append(reasons, "init container "+describeContainer(c.Name, st))
	}
	for _, c := range p.Spec.Containers {
		st := containerStatus(p.Status.ContainerStatuses, c.Name)
		if st == nil || !st.Ready {
			reasons = append(reasons, describeContainer(c.Name, st))
		}
	}
	if len(reasons) == 0 {
		// Every container is ready, so a readiness gate or the kubelet holds it.
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return false, joinNonEmpty(": ", orDefault(c.Reason, "Ready="+string(c.Status)), c.Message)
			}
		}
		return false, "phase " + orDefault(string(p.Status.Phase), "unknown") + ", no Ready condition"
	}
	return false, strings.Join(reasons, "; ")
}

func containerStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// describeContainer says why a container is not ready, e.g.
// "coredns: CrashLoopBackOff: back-off 5m0s restarting failed container (7 restarts)".
func describeContainer(name string, st *corev1.ContainerStatus) string {
	if st == nil {
		return name + ": no status yet"
	}
	var state string
	switch s := st.State; {
	case s.Waiting != nil:
		state = joinNonEmpty(": ", orDefault(s.Waiting.Reason, "waiting"), s.Waiting.Message)
	case s.Terminated != nil:
		state = fmt.Sprintf("terminated: %s (exit code %d)", orDefault(s.Terminated.Reason, "unknown reason"), s.Terminated.ExitCode)
	case s.Running != nil:
		state = "running, not ready"
	default:
		state = "no state yet"
	}
	if st.RestartCount > 0 {
		state += fmt.Sprintf(" (%d restarts)", st.RestartCount)
	}
	return name + ": " + state
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
