package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/secretbox"
)

const rotateSecretKeyUsage = `Usage: minivoice admin rotate-secret-key [--data DIR] [--database URL]

Adds a new random key at the end of DATA/secret.key, where it becomes the key
that encrypts, then re-encrypts every stored secret (trunk passwords, webhook
secrets, kept Idempotency-Key responses) with it. The older keys stay in the
file so that a backup taken before still opens; remove them by hand once no
process and no backup you keep needs them (docs/security/secrets.md).

Stop 'minivoice serve' first: a running server does not know the new key
until it restarts. With several servers on one PostgreSQL database, give every
server the new key before any of them re-encrypts (see the docs).

Flags:
`

// rotateSecretKey is `minivoice admin rotate-secret-key`. It works on the
// database directly, not through the API: the API never handles keys.
func rotateSecretKey(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice admin rotate-secret-key", rotateSecretKeyUsage, args, env)
	data := fs.String("data", "./minivoice-data", "data directory holding secret.key (and the SQLite database)")
	database := fs.String("database", "", "PostgreSQL URL; empty: the SQLite database in the data directory")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice admin rotate-secret-key", env)
	}
	if env.Getenv(platform.EnvSecretKey) != "" {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: the keys come from %s, which this command cannot change: "+
			"add a new key at its end (comma-separated; `openssl rand -base64 32` makes one) and restart minivoice serve, "+
			"which re-encrypts with it on start\n", platform.EnvSecretKey)
		return 2
	}
	path := filepath.Join(*data, platform.SecretKeyFile)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v (is --data the server's data directory?)\n", err)
		return 1
	}
	// Check first that the current keys open the database: adding a key to
	// a file that belongs elsewhere would only add to the confusion.
	kr, _, _, err := secretbox.LoadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	db, err := platform.OpenStore(ctx, *database, *data, time.Now, kr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v\n", err)
		return 1
	}
	if _, err := db.SealSecrets(ctx); err != nil {
		db.Close()
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: the keys in %s do not open this database: %v\n", path, err)
		return 1
	}
	db.Close()
	id, err := secretbox.AddKeyToFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v\n", err)
		return 1
	}
	kr, _, _, err = secretbox.LoadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v\n", err)
		return 1
	}
	db, err = platform.OpenStore(ctx, *database, *data, time.Now, kr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: %v\n", err)
		return 1
	}
	defer db.Close()
	n, err := db.SealSecrets(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin rotate-secret-key: key %s was added to %s but re-encrypting failed "+
			"(start minivoice serve, which finishes it): %v\n", id, path, err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "added key %s to %s (keys now, oldest first: %v); re-encrypted %d stored secrets with it\n",
		id, path, kr.IDs(), n)
	return 0
}
