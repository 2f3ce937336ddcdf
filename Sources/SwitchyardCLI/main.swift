// The thin command-line layer: parse, run, map errors to the exit codes of the interface contract
// (0 ok, 1 operation failed, 2 bad usage or bad config).
await Entry.run()
