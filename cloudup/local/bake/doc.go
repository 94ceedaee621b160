// Package bake builds local-cloud machine images: nodeup plus, when baked, every asset of one Kubernetes version.
package bake
