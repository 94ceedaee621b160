// Package cloud is the contract between hull and its cloud providers: the resources hull asks a cloud for, the client a provider implements, and the registry where each provider's driver says everything cloud-specific.
package cloud
