// The process-level last resort: whatever ends this process early (an uncaught error, an unhandled
// rejection, SIGTERM, SIGINT, a launcher that died) first ends every run it still holds open, so
// that no run is left `running`. Code that opens a run registers how to end it; lib/run/cli.ts calls
// `endOpenRuns` before the process exits.

type EndRun = (reason: string) => void;

const open = new Set<EndRun>();

/** Register how to end an open run as failed; call the returned function once the run is recorded. */
export function whileOpen(end: EndRun): () => void {
  open.add(end);
  return () => open.delete(end);
}

/** End every open run with `reason` (each once); errors are swallowed: this runs on the way out. */
export function endOpenRuns(reason: string): number {
  const ends = [...open];
  open.clear();
  for (const end of ends) {
    try {
      end(reason);
    } catch {
      // The process is going down; one run we could not record must not stop the others being recorded.
    }
  }
  return ends.length;
}
