// Package nodelifecycle removes the Node objects of machines the cloud no longer has, as a cloud controller's node lifecycle controller does.
package nodelifecycle
