// Package v1alpha1 defines the hull.dev/v1alpha1 Cluster and InstanceGroup kinds.
package v1alpha1
