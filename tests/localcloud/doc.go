// Package localcloud holds the end-to-end tests of `hull update cluster` on the local cloud, with a test image.
package localcloud
