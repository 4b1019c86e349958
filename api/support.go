package api

import "time"

// LogRecord is one of the service's log records, as GET /api/v1/support/logs shows it.
type LogRecord struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs"`
}

// SupportLogs is the answer of GET /api/v1/support/logs: the service's version and the recent
// log records that concern one tenant, oldest first.
type SupportLogs struct {
	ServiceVersion string      `json:"service_version"`
	Tenant         string      `json:"tenant"`
	Since          time.Time   `json:"since"`
	Records        []LogRecord `json:"records"`
}

// MaxSupportLogsWindow is how far back GET /api/v1/support/logs may look; the service keeps
// records in memory only, a bounded number for each tenant.
const MaxSupportLogsWindow = 24 * time.Hour
