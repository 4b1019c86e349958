package report

import (
	"context"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/server/store"
)

// purgeBatch is how many rows one purge transaction deletes at most.
const purgeBatch = 1000

// Purge deletes the events and attestation failures that ended before t, in transactions of
// at most batch rows (0: 1,000) so that none holds a long lock, and returns how many it deleted.
func Purge(ctx context.Context, st *store.Store, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = purgeBatch
	}
	total := 0
	for {
		var n int
		err := st.Update(ctx, func(tx *store.Tx) error {
			var err error
			n, err = tx.PurgeEvents(before, batch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}
