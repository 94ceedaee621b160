// Package channels reads hull's release channels: supported Kubernetes versions, recommended patches and machine images.
package channels
