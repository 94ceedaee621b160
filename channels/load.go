package channels

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DefaultChannel is used when a cluster names none.
const DefaultChannel = "stable"

// Limits on fetching a channel over https.
const (
	// FetchTimeout bounds the whole request: a channel is a few kilobytes.
	FetchTimeout = 30 * time.Second
	// maxChannelSize refuses a response that cannot be a channel file.
	maxChannelSize = 1 << 20
)

//go:embed stable alpha
var embedded embed.FS

// channelName is the form of a channel shipped inside hull.
var channelName = regexp.MustCompile(`^[a-z0-9-]+$`)

// Names lists the channels embedded in hull.
func Names() []string { return []string{"alpha", "stable"} }

// Loader reads channels. The zero Loader fetches https channels with a
// default client; tests give it one that trusts their server.
type Loader struct {
	HTTPClient *http.Client
}

// Load reads the channel ref with the zero Loader. See Loader.Load.
func Load(ctx context.Context, ref string) (*Channel, error) {
	return Loader{}.Load(ctx, ref)
}

// Load reads and validates the channel ref: a name ("stable", "alpha"; ""
// means stable) for the copy embedded in hull, a file:// path, or an https://
// URL. A bad channel file is an *InvalidError naming each line and field.
func (l Loader) Load(ctx context.Context, ref string) (*Channel, error) {
	if ref == "" {
		ref = DefaultChannel
	}
	data, err := l.read(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", ref, err)
	}
	return Parse(ref, data)
}

func (l Loader) read(ctx context.Context, ref string) ([]byte, error) {
	switch {
	case strings.HasPrefix(ref, "file://"):
		path := strings.TrimPrefix(ref, "file://")
		if path == "" {
			return nil, errors.New("file:// needs a path to a channel file")
		}
		return os.ReadFile(path)
	case strings.HasPrefix(ref, "https://"):
		return l.fetch(ctx, ref)
	case strings.HasPrefix(ref, "http://"):
		return nil, errors.New("use https://: the channel decides which binaries machines run")
	case channelName.MatchString(ref):
		data, err := embedded.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("no such channel: hull ships %s; or give a file:// path or an https:// URL", strings.Join(Names(), " and "))
		}
		return data, nil
	}
	return nil, errors.New("must be a channel name (stable, alpha), a file:// path or an https:// URL")
}

func (l Loader) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	client := l.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: FetchTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChannelSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(data) > maxChannelSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes; not a channel file", url, maxChannelSize)
	}
	return data, nil
}

// Parse decodes and validates one channel file. source names it in errors.
// Unknown and duplicate fields are refused, like hull's other files.
func Parse(source string, data []byte) (*Channel, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("channel %s: parse YAML: %w", source, err)
	}
	c := &Channel{source: source}
	strict, err := sjson.UnmarshalStrict(j, c)
	var errs []*FieldError
	if err != nil {
		fe := typeFieldError(j, err)
		if fe == nil {
			return nil, fmt.Errorf("channel %s: %s", source, strings.TrimPrefix(err.Error(), "json: "))
		}
		errs = append(errs, fe)
	}
	for _, se := range strict {
		errs = append(errs, strictFieldError(se))
	}
	if len(errs) == 0 && err == nil {
		errs = validate(c)
	}
	if len(errs) > 0 {
		lines := scanLines(data)
		for _, fe := range errs {
			fe.Line = lineOf(lines, fe.Field)
		}
		return nil, &InvalidError{Channel: source, Errs: errs}
	}
	return c, nil
}

// strictFieldError turns `json: unknown field "spec.x"` into a FieldError on
// spec.x.
func strictFieldError(err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	kind, quoted, ok := strings.Cut(msg, " field ")
	if !ok {
		return &FieldError{Field: "(file)", Msg: msg}
	}
	return &FieldError{Field: strings.Trim(quoted, `"`), Msg: kind + " field"}
}
