package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// AddNonce stores a single-use attestation nonce bound to a device ID. ErrExists if the nonce
// was issued already.
func (tx *Tx) AddNonce(nonce []byte, device ident.DeviceID, expires time.Time) error {
	n, err := tx.exec(`INSERT INTO nonces (nonce, device_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, nonce, string(device), micros(expires))
	if err != nil {
		return fmt.Errorf("add nonce for device %s: %w", device, err)
	}
	if n == 0 {
		return fmt.Errorf("nonce: %w", ErrExists)
	}
	return nil
}

// TakeNonce removes a nonce and returns the device it was issued for and its expiry, which the
// caller checks. ErrNotFound if it was never issued or was taken already — so a nonce is good
// once, even across several service replicas sharing one database.
func (tx *Tx) TakeNonce(nonce []byte) (ident.DeviceID, time.Time, error) {
	// One statement reads and removes the row: of two transactions taking one nonce, the second
	// waits for the first (PostgreSQL's row lock, SQLite's write lock) and then finds no row.
	var device string
	var expires int64
	err := tx.queryRow("DELETE FROM nonces WHERE nonce = $1 RETURNING device_id, expires_at",
		nonce).Scan(&device, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("nonce: %w", ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("take nonce: %w", err)
	}
	return ident.DeviceID(device), fromMicros(expires), nil
}

// PurgeNonces removes nonces that expired before t and returns how many.
func (tx *Tx) PurgeNonces(before time.Time) (int, error) {
	n, err := tx.exec("DELETE FROM nonces WHERE expires_at < $1", micros(before))
	if err != nil {
		return 0, fmt.Errorf("purge nonces: %w", err)
	}
	return int(n), nil
}

// Attestation is the outcome of one attestation.
type Attestation struct {
	DeviceID      ident.DeviceID
	TenantID      ident.TenantID // "" when the device is claimed by no tenant
	At            time.Time
	Result        string // api.AttestPass or api.AttestFail
	Reason        string // an api.Reason… value on failure
	Message       string
	Mode          string
	RuntimeSHA512 string
	CertExpiry    *time.Time
	Source        string // the device's network address
	Nonce         []byte // the nonce the evidence carried (not stored with the outcome)
	// RootOfTrust and EKFingerprint: the evidence's root of trust, recorded on a pass with
	// SetRootOfTrust.
	RootOfTrust, EKFingerprint string
}

// RecordAttestation stores an attestation's outcome. When a.TenantID is set it updates the
// claimed device's last attestation (ErrNotFound if the tenant has no such device): its time,
// result and reason, and on a pass also its runtime and certificate expiry — a failure leaves
// those as the last pass established them, since the device still holds that certificate and
// failed evidence proves nothing about its runtime. On failure it also appends an
// attestation-failure record, kept for error reporting, under TenantID "" for a device no
// tenant has claimed.
func (tx *Tx) RecordAttestation(a Attestation) error {
	at := micros(a.At)
	var n int64
	var err error
	switch {
	case a.Result != api.AttestPass && a.Result != api.AttestFail:
		return fmt.Errorf("record attestation of device %s: result %q is neither %s nor %s",
			a.DeviceID, a.Result, api.AttestPass, api.AttestFail)
	case a.TenantID == "":
	case a.Result == api.AttestPass:
		n, err = tx.exec(`UPDATE devices SET last_attested_at = $3, last_attest_result = $4,
				last_attest_reason = $5, runtime_sha512 = $6, cert_expires_at = $7
			WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, string(a.DeviceID), at, a.Result, a.Reason, a.RuntimeSHA512, nullMicros(a.CertExpiry))
	default:
		n, err = tx.exec(`UPDATE devices SET last_attested_at = $3, last_attest_result = $4,
				last_attest_reason = $5
			WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, string(a.DeviceID), at, a.Result, a.Reason)
	}
	if err != nil {
		return fmt.Errorf("record attestation of device %s: %w", a.DeviceID, err)
	}
	if a.TenantID != "" && n == 0 {
		return fmt.Errorf("device %s: %w", a.DeviceID, ErrNotFound)
	}
	if a.Result == api.AttestPass {
		return nil
	}
	if _, err := tx.exec(`INSERT INTO attestation_failures (`+failureColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.TenantID, string(a.DeviceID), at, a.Reason, a.Message, a.Mode, a.RuntimeSHA512, a.Source); err != nil {
		return fmt.Errorf("record attestation failure of device %s: %w", a.DeviceID, err)
	}
	return nil
}

const failureColumns = "tenant_id, device_id, at, reason, message, mode, runtime_sha512, source"

func scanFailure(r scanner) (Attestation, error) {
	a := Attestation{Result: api.AttestFail}
	var at int64
	err := r.Scan(&a.TenantID, (*string)(&a.DeviceID), &at, &a.Reason, &a.Message, &a.Mode,
		&a.RuntimeSHA512, &a.Source)
	a.At = fromMicros(at)
	return a, err
}

// AttestationFailures lists a tenant's recorded attestation failures ("" for those of
// unclaimed devices) at or after since, newest first, at most limit (0: api.DefaultPageSize,
// capped at api.MaxPageSize). CertExpiry is nil: a failure issues no certificate.
func (tx *Tx) AttestationFailures(tenantID ident.TenantID, since time.Time, limit int) ([]Attestation, error) {
	fs, err := queryAll(tx, scanFailure, "SELECT "+failureColumns+` FROM attestation_failures
		WHERE tenant_id = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3`,
		tenantID, micros(since), pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("list attestation failures: %w", err)
	}
	return fs, nil
}

// UseNonce marks a nonce the service issued (and authenticated itself, see package attest) as
// used, until it expires. ErrExists if it was used before — so a nonce is good once, even
// across several service replicas sharing one database. Only a claimed device's attestation
// calls it: a request that proves nothing writes nothing.
func (tx *Tx) UseNonce(nonce []byte, device ident.DeviceID, expires time.Time) error {
	n, err := tx.exec(`INSERT INTO nonces (nonce, device_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, nonce, string(device), micros(expires))
	if err != nil {
		return fmt.Errorf("use nonce of device %s: %w", device, err)
	}
	if n == 0 {
		return fmt.Errorf("nonce: %w", ErrExists)
	}
	return nil
}

// FailureCount is how often attestations of callers that are not a claimed device failed for
// one reason in one interval, with one of those failures as a sample.
type FailureCount struct {
	Interval time.Time // its start
	Reason   string
	Count    int64
	Sample   Attestation // Message, Source and DeviceID (if the evidence named one) of one failure
}

// AddFailureCounts adds counts to those stored for their interval and reason, replacing the
// sample. Its writes are one a count: the caller batches them (package attest).
func (tx *Tx) AddFailureCounts(counts []FailureCount) error {
	for _, c := range counts {
		_, err := tx.exec(`INSERT INTO attestation_failure_counts (interval_start, reason, count,
				sample_message, sample_source, sample_device) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (interval_start, reason) DO UPDATE SET
				count = attestation_failure_counts.count + excluded.count,
				sample_message = excluded.sample_message, sample_source = excluded.sample_source,
				sample_device = excluded.sample_device`,
			micros(c.Interval), c.Reason, c.Count, c.Sample.Message, c.Sample.Source, string(c.Sample.DeviceID))
		if err != nil {
			return fmt.Errorf("add attestation failure counts: %w", err)
		}
	}
	return nil
}

// FailureCounts lists the counts of intervals that started at or after since, newest first,
// at most limit (0: api.DefaultPageSize, capped at api.MaxPageSize).
func (tx *Tx) FailureCounts(since time.Time, limit int) ([]FailureCount, error) {
	cs, err := queryAll(tx, func(r scanner) (FailureCount, error) {
		var c FailureCount
		var at int64
		err := r.Scan(&at, &c.Reason, &c.Count, &c.Sample.Message, &c.Sample.Source, (*string)(&c.Sample.DeviceID))
		c.Interval = fromMicros(at)
		c.Sample.Reason, c.Sample.Result, c.Sample.At = c.Reason, api.AttestFail, c.Interval
		return c, err
	}, `SELECT interval_start, reason, count, sample_message, sample_source, sample_device
		FROM attestation_failure_counts WHERE interval_start >= $1
		ORDER BY interval_start DESC, reason LIMIT $2`, micros(since), pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("list attestation failure counts: %w", err)
	}
	return cs, nil
}

// CountRows counts the rows of a table of the store, for tests and diagnostics that check what
// a request wrote. The name must be a plain table name.
func (tx *Tx) CountRows(table string) (int, error) {
	for _, r := range table {
		if (r < 'a' || r > 'z') && r != '_' {
			return 0, fmt.Errorf("count rows: %q is not a table name", table)
		}
	}
	var n int
	if err := tx.queryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %s: %w", table, err)
	}
	return n, nil
}
