package bus

import (
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamFull means JetStream refused a message because the stream has
// reached its size limit and discards new messages (WORKORDERS_EVENTS and
// WORKORDERS_COMMANDS, see StreamSettings), or because the server has no
// storage left to give. Nothing was stored; retrying only helps once old
// messages expire or an operator raises the limit.
var ErrStreamFull = errors.New("stream full")

// JetStream error codes the client library has no names for.
const (
	// jsErrStreamStoreFailed is "the store refused the message"; its
	// description is the store's reason, "maximum bytes exceeded" (or
	// messages) for a full DiscardNew stream.
	jsErrStreamStoreFailed = 10077
	// jsErrStorageResourcesExceeded is "insufficient storage resources
	// available": the server cannot reserve a stream's MaxBytes.
	jsErrStorageResourcesExceeded = 10047
)

// IsStreamFull reports whether err is JetStream refusing a message for
// lack of room.
func IsStreamFull(err error) bool {
	if errors.Is(err, ErrStreamFull) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jsErrStorageResourcesExceeded:
		return true
	case jsErrStreamStoreFailed:
		d := strings.ToLower(apiErr.Description)
		return strings.Contains(d, "maximum bytes exceeded") || strings.Contains(d, "maximum messages exceeded")
	}
	return false
}

// isResourcesExceeded reports whether the server refused to reserve a
// stream's MaxBytes.
func isResourcesExceeded(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrStorageResourcesExceeded
}
