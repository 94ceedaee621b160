// Package statetest starts state stores for tests: a real S3 server (versitygw), a fresh URL per backend, and faults to inject with Store.WithFault.
package statetest
