// Package statetest starts state stores for tests: a real S3 server (versitygw) and a fresh URL per backend.
package statetest
