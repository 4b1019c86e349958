package api

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrorCSVHeader is the header of the error report as CSV (`rampart report errors --output
// csv`, the console's download): Azure Sphere's download-error-report columns, then the device
// group.
var ErrorCSVHeader = []string{"device_id", "event_category", "event_class", "event_type", "event_count",
	"description", "component_id", "image_id", "start_time", "end_time", "device_group"}

// WriteErrorCSV writes events as CSV with a header row. A cell that a spreadsheet would take for
// a formula (=, +, -, @, tab, CR first) is prefixed with ', since descriptions come from devices.
func WriteErrorCSV(w io.Writer, events []ErrorEvent) error {
	cw := csv.NewWriter(w)
	cw.Write(ErrorCSVHeader)
	for _, ev := range events {
		row := []string{string(ev.DeviceID), ev.Category, ev.Class, ev.Type, fmt.Sprint(ev.Count), ev.Description,
			string(ev.ComponentID), string(ev.ImageID), ev.FirstAt.Format(time.RFC3339), ev.LastAt.Format(time.RFC3339), ev.DeviceGroup}
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				row[i] = "'" + cell
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
