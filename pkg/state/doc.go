// Package state is hull's state store: atomic, conditional object storage over gocloud.dev/blob.
package state
