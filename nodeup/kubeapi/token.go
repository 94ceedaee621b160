package kubeapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/state"
)

// TokenKey is where the cluster's bootstrap token lives in the store.
func TokenKey(cluster string) string { return path.Join(cluster, "secrets", "bootstrap-token") }

var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// Token is a bootstrap token "id.secret" (kubeadm's format).
type Token struct{ ID, Secret string }

func (t Token) String() string { return t.ID + "." + t.Secret }

// ParseToken checks the format.
func ParseToken(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Token{}, errors.New("bootstrap token is not of the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// NewToken makes a random token.
func NewToken() (Token, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return Token{}, err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return Token{ID: string(b[:6]), Secret: string(b[6:])}, nil
}

// GetToken reads the token; state.ErrNotFound if there is none yet.
func GetToken(ctx context.Context, st *state.Store, cluster string) (Token, error) {
	data, _, err := st.Get(ctx, TokenKey(cluster))
	if err != nil {
		return Token{}, err
	}
	t, err := ParseToken(string(data))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", TokenKey(cluster), err)
	}
	return t, nil
}

// EnsureToken creates the token if missing. Control-plane machines may race:
// MustNotExist lets exactly one win, and the others read the winner's.
func EnsureToken(ctx context.Context, st *state.Store, cluster string) (Token, error) {
	t, err := GetToken(ctx, st, cluster)
	if err == nil || !errors.Is(err, state.ErrNotFound) {
		return t, err
	}
	t, err = NewToken()
	if err != nil {
		return Token{}, err
	}
	_, err = st.Put(ctx, TokenKey(cluster), []byte(t.String()+"\n"), state.MustNotExist())
	if errors.Is(err, state.ErrConflict) {
		return GetToken(ctx, st, cluster)
	}
	if err != nil {
		return Token{}, fmt.Errorf("store bootstrap token: %w", err)
	}
	return t, nil
}

// WaitToken polls until the first control-plane machine created the token.
func WaitToken(ctx context.Context, st *state.Store, cluster string, every time.Duration, log func(msg string)) (Token, error) {
	var t Token
	last := time.Time{}
	err := wait.PollUntilContextCancel(ctx, every, true, func(ctx context.Context) (bool, error) {
		var err error
		t, err = GetToken(ctx, st, cluster)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, state.ErrNotFound):
			return false, err
		}
		if time.Since(last) > 10*time.Second && log != nil {
			log("waiting for the control plane to create the bootstrap token in the state store")
			last = time.Now()
		}
		return false, nil
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}
