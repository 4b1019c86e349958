package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Image packages: pack, upload, list, show and download images"}
	cmd.AddCommand(e.imagePackCmd(), e.imageHardwareHeaderCmd(), e.addOutput(e.imageAddCmd()),
		e.addOutput(e.imageListCmd()), e.addOutput(e.imageShowCmd()), e.imageDownloadCmd())
	return cmd
}

func (e *env) imageAddCmd() *cobra.Command {
	var file string
	var f *os.File
	var size int64
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		im, err := c.AddImage(ctx, e.progress(f, size, "Uploading"), size)
		if err != nil {
			return err
		}
		return e.print(im, func(w io.Writer) { imageTable(w, im) })
	})
	cmd := &cobra.Command{
		Use:   "add --file FILE",
		Short: "Upload an image package; the service re-signs it with your tenant's key",
		Long: "Upload an image package made with 'rampart image pack'. The service checks it, re-signs\n" +
			"it with your tenant's image-signing key and keeps it under its image ID for good:\n" +
			"the same package again is harmless, another package under that image ID is refused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if f, size, err = openPackage(file); err != nil {
				return err
			}
			defer f.Close()
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the image package ('rampart image pack' makes one)")
	cmd.MarkFlagRequired("file")
	cmd.MarkFlagFilename("file")
	return cmd
}

// openPackage opens an image package to upload: a regular file of at most api.MaxImageSize.
func openPackage(file string) (*os.File, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file", file)
	case fi.Size() > api.MaxImageSize:
		err = fmt.Errorf("%s is %s; an image package may be at most %s", file, humanBytes(fi.Size()), humanBytes(api.MaxImageSize))
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func (e *env) imageListCmd() *cobra.Command {
	var q client.ImageQuery
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		ims, err := c.Images(ctx, q)
		if err != nil {
			return err
		}
		return e.print(ims, func(w io.Writer) { imageRows(w, ims) })
	})
	cmd := &cobra.Command{
		Use:   "list [--component ID]",
		Short: "List your tenant's images, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if q.ComponentID != "" && !ident.IsID(q.ComponentID) {
				return usage.Errorf("invalid --component %s: want a component ID (a lowercase UUID)", clipFlag(string(q.ComponentID)))
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar((*string)(&q.ComponentID), "component", "", "only this component's images (its ID)")
	return cmd
}

func (e *env) imageShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an image",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			im, err := c.Image(ctx, ident.ImageID(args[0]))
			if err != nil {
				return err
			}
			return e.print(im, func(w io.Writer) { imageTable(w, im) })
		}),
	}
}

func (e *env) imageDownloadCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "download ID [--output FILE]",
		Short: "Download an image's package as the service keeps it (re-signed with your tenant's key)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			if out == "" || out == "-" {
				_, err := c.DownloadImage(ctx, ident.ImageID(args[0]), e.stdout, nil)
				return err
			}
			var im api.Image
			err := writeAtomic(out, func(w io.Writer) error {
				var err error
				im, err = c.DownloadImage(ctx, ident.ImageID(args[0]), w, func(r io.Reader, size int64) io.Reader {
					return e.progress(r, size, "Downloading")
				})
				return err
			})
			if err != nil {
				return err
			}
			e.infof("Wrote image %s (%s %s, %s) to %s.", im.ID, im.Name, im.Version, humanBytes(im.Size), out)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default: stdout)")
	cmd.MarkFlagFilename("output")
	return cmd
}

func imageRows(w io.Writer, ims []api.Image) {
	fmt.Fprintln(w, "ID\tNAME\tVERSION\tTYPE\tCOMPONENT\tSIZE\tUPLOADED")
	for _, im := range ims {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.ID, im.Name, im.Version, im.Type, im.ComponentID,
			humanBytes(im.Size), im.UploadedAt.Format(time.RFC3339))
	}
}

func imageTable(w io.Writer, im api.Image) {
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nVersion\t%s\nType\t%s\nComponent\t%s\n", im.ID, im.Name, im.Version, im.Type, im.ComponentID)
	fmt.Fprintf(w, "Size\t%d\nSHA-256\t%s\nPayload size\t%d\nPayload SHA-256\t%s\n", im.Size, im.SHA256, im.PayloadSize, im.PayloadSHA256)
	fmt.Fprintf(w, "Uploaded\t%s by %s\n", im.UploadedAt.Format(time.RFC3339), im.UploadedBy)
}
