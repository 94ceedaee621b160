// Package testproc starts a test's helper server on a free loopback port, waits until it answers, and kills exactly it when the test ends.
package testproc
