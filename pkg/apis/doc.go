// Package apis holds hull's user-facing API: the v1alpha1 types, their codec, completion and validation.
package apis
