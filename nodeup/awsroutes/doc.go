// Package awsroutes is nodeup's AWS counterpart: it routes each node's pod CIDR to its instance in the VPC route tables of an AWS cluster, turns the instances' source/destination check off so they may carry pod addresses, and registers nodeup's behaviour on aws.
package awsroutes
