// Package model turns a nodeup config, the CAs and the facts of one machine into the ordered task list that makes the machine a node.
package model
