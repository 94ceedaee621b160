// Package upgrades plans Kubernetes version upgrades one minor at a time and checks the version-skew policy.
package upgrades
