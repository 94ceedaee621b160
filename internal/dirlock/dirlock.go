package dirlock

import "errors"

// ErrUnsupported is returned where the OS has no flock(2).
var ErrUnsupported = errors.New("directory locks need flock(2), which this OS lacks")
