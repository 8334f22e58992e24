// Turns on the one JavaScript thread for the flows of a build in one process. Each flow's CPU
// steps (an answer parsed, a slice of an encoding, a derived table built) wait for a turn of the
// event loop, one step per turn, the flow with the longest chain of work ahead of it first. An
// answer on that chain is then read as soon as it comes, instead of after whatever steps the other
// flows queued before it (docs/architecture.md §10).

/** Wait for this flow's next turn: resolves on a later turn of the event loop. */
export type Turn = () => Promise<void>;

interface Waiting {
  priority: number;
  /** Order of arrival: among equal priorities, first come first served. */
  seq: number;
  resume: () => void;
}

export class Turns {
  private readonly waiting: Waiting[] = [];
  private seq = 0;
  private scheduled = false;

  /** The turns of a flow of this priority (the higher, the sooner). */
  for(priority: number): Turn {
    return () => new Promise<void>((resume) => {
      this.waiting.push({ priority, seq: this.seq++, resume });
      this.schedule();
    });
  }

  /** Steps waiting for a turn. */
  get size(): number {
    return this.waiting.length;
  }

  // setImmediate runs after the event loop has polled for I/O: the answers that came meanwhile are
  // read before the next step, and the steps they lead to queue with the others.
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.next());
  }

  private next(): void {
    this.scheduled = false;
    let best = 0;
    for (let i = 1; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      const b = this.waiting[best]!;
      if (w.priority > b.priority || (w.priority === b.priority && w.seq < b.seq)) best = i;
    }
    const [step] = this.waiting.splice(best, 1);
    if (this.waiting.length) this.schedule();
    step?.resume();
  }
}
