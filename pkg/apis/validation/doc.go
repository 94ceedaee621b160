// Package validation checks Clusters and InstanceGroups and reports every problem with its field path.
package validation
