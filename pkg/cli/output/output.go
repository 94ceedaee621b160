package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Format is a -o value.
type Format string

// Output formats every reading command supports.
const (
	Table Format = "table"
	YAML  Format = "yaml"
	JSON  Format = "json"
)

// ParseFormat checks a -o flag value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case "", Table:
		return Table, nil
	case YAML, JSON:
		return f, nil
	}
	return "", fmt.Errorf("-o/--output: unsupported format %q: use table, yaml or json", s)
}

// Structured writes v as YAML or JSON.
func Structured(w io.Writer, f Format, v any) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("format %q is not structured", f)
}

// TableWriter prints aligned columns, kops/kubectl style.
type TableWriter struct {
	tw *tabwriter.Writer
}

// NewTable starts a table with the given upper-case headers.
func NewTable(w io.Writer, headers ...string) *TableWriter {
	t := &TableWriter{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
	t.Row(headers...)
	return t
}

// Row adds one row.
func (t *TableWriter) Row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// Flush writes the table.
func (t *TableWriter) Flush() error { return t.tw.Flush() }

// Progress prints "step ... (elapsed)" lines for long operations.
type Progress struct {
	w     io.Writer
	start time.Time
	now   func() time.Time
}

// NewProgress starts the clock.
func NewProgress(w io.Writer) *Progress {
	return &Progress{w: w, start: time.Now(), now: time.Now}
}

// Step prints one progress line with the time since the operation began.
func (p *Progress) Step(format string, args ...any) {
	elapsed := p.now().Sub(p.start).Round(100 * time.Millisecond)
	fmt.Fprintf(p.w, "[%6s] %s\n", elapsed, fmt.Sprintf(format, args...))
}

// Bytes is a size for people: 512 B, 1.5 KiB, 3.2 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
