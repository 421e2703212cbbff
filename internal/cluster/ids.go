package cluster

import "regexp"

// IDPattern is what a worker id may look like: 1 to 63 letters, digits, '.',
// '_', ':' or '-', starting with a letter or digit. An id names the worker in
// logs, rings, the ledger and its memberlist node name; both the worker (for
// its own configuration) and the coordinator (for a registration) check it.
var IDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$`)

// IDRule is IDPattern in words, for error messages.
const IDRule = "1 to 63 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
