package store

// MigrationStatements returns the statements of the embedded migration
// file name (for example "0016_daily_spend.sql"), for tests that run one
// again.
func MigrationStatements(name string) []string {
	body, err := migrations.ReadFile("migrations/" + name)
	if err != nil {
		panic(err)
	}
	return splitStatements(string(body))
}
