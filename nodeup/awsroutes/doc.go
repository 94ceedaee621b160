// Package awsroutes routes each node's pod CIDR to its instance in the VPC route tables of an AWS cluster, and turns the instances' source/destination check off so they may carry pod addresses.
package awsroutes
