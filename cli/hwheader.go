package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/format/hwdef"
	"github.com/rampart-iot/rampart/internal/usage"
	hardwaredefinitions "github.com/rampart-iot/rampart/sdk/c/HardwareDefinitions"
)

// imageHardwareHeaderCmd is `rampart image hardware-header`: the C header (hw/NAME.h) of an
// Azure Sphere hardware definition, which sdk/c's CMake functions generate when a project
// ships none. It needs no service.
func (e *env) imageHardwareHeaderCmd() *cobra.Command {
	var def, output string
	var dirs []string
	cmd := &cobra.Command{
		Use:   "hardware-header --hardware-definition FILE --output FILE",
		Short: "Write the C header of an Azure Sphere hardware definition",
		Long: "Write the C header (hw/NAME.h) of an Azure Sphere hardware definition: a #define for\n" +
			"each peripheral, an #include of each import's header. The definition's imports are\n" +
			"looked up next to it, then in each --hardware-definition-dir, then among Rampart's own\n" +
			"MT3620 definitions. The file, and its folder, are made if need be, and rewritten only if\n" +
			"the header changes.",
		Example: "  rampart image hardware-header --hardware-definition hw/sample_appliance.json --output inc/hw/sample_appliance.h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if def == "" || output == "" {
				return usage.Errorf("give --hardware-definition and --output")
			}
			d, err := (&hwdef.Loader{Dirs: dirs, Builtin: hardwaredefinitions.FS}).Load(def)
			if err != nil {
				return err
			}
			h := d.Header()
			if old, err := os.ReadFile(output); err == nil && bytes.Equal(old, h) {
				return nil // unchanged: keep its time, so that nothing rebuilds
			}
			if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
				return fmt.Errorf("write %s: %w", output, err)
			}
			if err := writeAtomic(output, func(w io.Writer) error { _, err := w.Write(h); return err }); err != nil {
				return fmt.Errorf("write %s: %w", output, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&def, "hardware-definition", "", "the hardware definition (JSON)")
	f.StringVarP(&output, "output", "o", "", "the header file to write")
	f.StringArrayVar(&dirs, "hardware-definition-dir", nil, "a folder to look up imports in (repeatable)")
	cmd.MarkFlagFilename("hardware-definition", "json")
	cmd.MarkFlagFilename("output", "h")
	return cmd
}
