// Package kubeconfig issues admin client credentials and reads and merges kubeconfig files.
package kubeconfig
