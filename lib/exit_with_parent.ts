// Loaded (`--import`) into every job the scheduler starts: when the scheduler dies without
// stopping its job (SIGKILL, a crash), the job stops too, so that the next scheduler never runs a
// job beside an orphan of the previous one, and the orphan's run is marked `crashed` when it starts.
// The scheduler gives its job an IPC channel and never uses it: it closes only when the scheduler
// is gone. A job started any other way has no channel and is not affected.
if (process.channel) {
  process.once("disconnect", () => {
    process.kill(process.pid, "SIGTERM");
    // A job that handles SIGTERM gets 10 s to finish its own way.
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 10_000).unref();
  });
  // The unused channel must not keep a finished job alive.
  process.channel.unref();
}

export {};
