// Package awscli holds the end-to-end tests of hull's commands with --cloud aws, against an AWS-protocol endpoint on loopback.
package awscli
