package state

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Holder names this process in a lease as "user@host pid N": readable in a
// conflict message, and parsable, so that a later process on the same host
// can tell that the holder is gone (see AcquireLease).
func Holder() string {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "uid" + strconv.Itoa(os.Getuid())
	}
	return fmt.Sprintf("%s@%s pid %d", user, host, os.Getpid())
}

// parseHolder splits a Holder string into its host and pid; ok is false for
// any other holder name (which then only ever expires).
func parseHolder(holder string) (host string, pid int, ok bool) {
	who, pidStr, ok := strings.Cut(holder, " pid ")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(who, '@')
	if i < 0 || i == len(who)-1 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return who[i+1:], pid, true
}

// holderGone reports whether holder is a process of this host that no
// longer exists (one killed with SIGKILL), so its lease need not run out.
// Another host's holder, this process, a live (or reused) pid and a holder
// name that does not parse are never gone.
func holderGone(holder string) bool {
	host, pid, ok := parseHolder(holder)
	if !ok || pid == os.Getpid() {
		return false
	}
	if me, err := os.Hostname(); err != nil || me != host {
		return false
	}
	return processGone(pid)
}
