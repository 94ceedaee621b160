// Package pki issues and stores hull's certificate authorities, keys and leaf certificates.
package pki
