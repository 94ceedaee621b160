// Package drain cordons nodes and evicts their pods, naming the PodDisruptionBudget that blocks an eviction and never evicting more pods of a budget at once than it allows.
package drain
