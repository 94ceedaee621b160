// Package awsmodel turns a completed cluster into the AWS resources it needs (names, tags, CIDRs, rules, policies), shared by the aws provider and the Terraform target.
package awsmodel
