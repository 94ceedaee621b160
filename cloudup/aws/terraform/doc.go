// Package terraform writes the AWS resources of a completed cluster as deterministic Terraform JSON (*.tf.json) instead of calling AWS.
package terraform
