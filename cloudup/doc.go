// Package cloudup reconciles the cloud with a cluster's completed spec: model, plan, and apply.
package cloudup
