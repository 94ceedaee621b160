package graph

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// maxValueWidth is the widest value PrintPlan shows whole (hashes excepted).
const maxValueWidth = 60

// PrintPlan writes the dry-run report of a plan, kops-like: the resources
// to create with every expected field, the resources to modify with each
// changed field as "old -> new", and the resources to delete (only with
// prune; without it, a note names them), then "Must specify --yes to apply
// changes", or "No changes need to be applied". Resources are sorted by key
// and fields by name.
//
// A caller's dry run is BuildPlan then PrintPlan; --yes is BuildPlan then
// Apply.
func PrintPlan(w io.Writer, p *Plan, prune bool) error {
	bw := bufio.NewWriter(w)
	var creates, modifies []*Change
	for _, ch := range p.Changes {
		switch ch.Action {
		case ActionCreate:
			creates = append(creates, ch)
		case ActionModify:
			modifies = append(modifies, ch)
		}
	}
	if len(creates) > 0 {
		printSection(bw, "Will create resources:", creates, func(fc FieldChange) string { return showValue(fc.New) })
	}
	if len(modifies) > 0 {
		printSection(bw, "Will modify resources:", modifies, func(fc FieldChange) string {
			return showValue(fc.Old) + " -> " + showValue(fc.New)
		})
	}
	keys := make([]string, len(p.Deletions))
	for i, d := range p.Deletions {
		keys[i] = d.Key()
	}
	switch {
	case len(keys) > 0 && prune:
		fmt.Fprintln(bw, "Will delete resources:")
		for _, k := range keys {
			fmt.Fprintf(bw, "  %s\n", k)
		}
		fmt.Fprintln(bw)
	case len(keys) == 1:
		fmt.Fprintf(bw, "1 resource exists that is not in the spec; use --prune to delete it: %s\n\n", keys[0])
	case len(keys) > 1:
		fmt.Fprintf(bw, "%d resources exist that are not in the spec; use --prune to delete them: %s\n\n",
			len(keys), strings.Join(keys, ", "))
	}
	if p.HasChanges(prune) {
		fmt.Fprintln(bw, "Must specify --yes to apply changes")
	} else {
		fmt.Fprintln(bw, "No changes need to be applied")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("printing plan: %w", err)
	}
	return nil
}

// printSection writes a title, each change's key, and its fields aligned
// in two columns, then a blank line.
func printSection(w io.Writer, title string, changes []*Change, value func(FieldChange) string) {
	fmt.Fprintln(w, title)
	for _, ch := range changes {
		fmt.Fprintf(w, "  %s\n", ch.Key)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, fc := range ch.Fields {
			fmt.Fprintf(tw, "    %s\t%s\n", fc.Field, value(fc))
		}
		tw.Flush() // errors surface from the buffered writer's Flush
	}
	fmt.Fprintln(w)
}

// showValue makes a field value fit on one line: "" is shown quoted, values
// with control characters are quoted, and values longer than maxValueWidth
// are shortened with "..." unless they are hashes, which are kept whole.
func showValue(v string) string {
	if v == "" {
		return `""`
	}
	if isHash(v) {
		return v
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		v = strconv.Quote(v)
	}
	if len(v) > maxValueWidth {
		v = truncate(v, maxValueWidth-3) + "..."
	}
	return v
}

// isHash reports whether v looks like a digest: optionally "algorithm:",
// then at least 7 hexadecimal digits.
func isHash(v string) bool {
	if i := strings.IndexByte(v, ':'); i > 0 {
		v = v[i+1:]
	}
	if len(v) < 7 {
		return false
	}
	for _, c := range v {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// truncate returns at most n bytes of s without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if i > n {
			break
		}
		cut = i
	}
	return s[:cut]
}
