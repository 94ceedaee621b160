// Package cloud declares the resources hull asks a provider for and the small interfaces a provider implements.
package cloud
