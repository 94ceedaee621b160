package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// staticPod describes a control-plane static pod.
type staticPod struct {
	name    string
	image   string
	command string
	args    map[string]string
	// mounts are host paths mounted read-only at the same path, except
	// those in writable.
	mounts   []string
	writable []string
	cpu      string
	probe    *corev1.Probe
}

// flags renders args as sorted --key=value, so manifests are stable and a
// reader finds a flag at once.
func flags(args map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, k := range slices.Sorted(maps.Keys(args)) {
		out = append(out, "--"+k+"="+args[k])
	}
	return out
}

// merge overlays the user's extra args (without leading dashes).
func merge(base, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	for k, v := range extra {
		out[strings.TrimLeft(k, "-")] = v
	}
	return out
}

func httpProbe(scheme corev1.URIScheme, port int, path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Host: "127.0.0.1", Port: intstr.FromInt(port), Path: path, Scheme: scheme,
		}},
		PeriodSeconds: 2, TimeoutSeconds: 5, FailureThreshold: 3,
	}
}

func (p staticPod) render() ([]byte, error) {
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      p.name,
			Namespace: "kube-system",
			Labels:    map[string]string{"k8s-app": p.name, "tier": "control-plane"},
		},
		Spec: corev1.PodSpec{
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			Containers: []corev1.Container{{
				Name:    p.name,
				Image:   p.image,
				Command: append([]string{p.command}, flags(p.args)...),
				// No registry serves hull.local: images come from the
				// assets, imported into containerd by nodeup.
				ImagePullPolicy: corev1.PullNever,
				ReadinessProbe:  p.probe,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(p.cpu),
				}},
			}},
		},
	}
	c := &pod.Spec.Containers[0]
	for i, m := range p.mounts {
		name := fmt.Sprintf("host-%d", i)
		hp := corev1.HostPathDirectoryOrCreate
		if !slices.Contains(p.writable, m) && strings.Contains(m[strings.LastIndex(m, "/"):], ".") {
			hp = corev1.HostPathFile
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: m, Type: &hp},
		}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m, ReadOnly: !slices.Contains(p.writable, m)})
	}
	out, err := yaml.Marshal(&pod)
	if err != nil {
		return nil, fmt.Errorf("render static pod %s: %w", p.name, err)
	}
	return out, nil
}
