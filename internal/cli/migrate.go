package cli

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "migrate")
	db := dbFlag(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, applied, err := openStore(ctx, *db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer st.Close()
	fmt.Fprintf(e.stdout, "applied %d migrations to %s (%s)\n", applied, redactDB(*db), st.Kind())
	return nil
}
