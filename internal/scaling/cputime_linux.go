package scaling

// rusageThread is RUSAGE_THREAD.
const rusageThread = 1
