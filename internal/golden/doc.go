// Package golden compares test output with files under testdata/ and rewrites them with -update.
package golden
