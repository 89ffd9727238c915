package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/redact"
)

// classify marks err as readmodel.ErrUnavailable when it means the database
// cannot be reached or is going away, as opposed to a bad query or data: the
// first is worth a 503 and a retry, the second a bug report.
func classify(err error) error {
	if err == nil || errors.Is(err, readmodel.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", readmodel.ErrUnavailable, err)
}

// rejected reports whether Postgres refused the data of a statement rather
// than failing to run it: SQLSTATE class 22 (data exception: a NUL byte or
// invalid UTF-8 in text, "\u0000" in jsonb, a number or date out of range)
// or class 23 (integrity constraint violation: a status the CHECK does not
// allow, a NOT NULL column left empty). The same event fails the same way
// every time, so retrying it would stall the projection for good.
func rejected(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		// The caller gave up; the database may be fine.
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "53300", // too_many_connections
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03": // cannot_connect_now
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, puddle.ErrClosedPool) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// maskURL hides the credentials of a postgres:// URL or a key=value DSN,
// so that the database location can be logged and put into errors.
func maskURL(s string) string { return redact.URL(s) }
