// What a source may use of the run that calls it: the configuration (endpoints, bounds), the log,
// the run's clock reading and its retry policy. Sources depend on this, never on the flow runner.
import type { Config } from "../config/config.ts";
import type { Logger } from "../core/log.ts";
import type { Turn } from "../core/turns.ts";

export interface SourceContext {
  config: Config;
  log: Logger;
  /** The run's clock reading at start. */
  now: Date;
  /** Call a source with the retry policy (transient failures retried, permanent ones thrown at once). */
  retry<T>(what: string, request: () => Promise<T>): Promise<T>;
  /** In a build of many flows in one process: wait for this flow's turn before a CPU step (lib/core/turns.ts). */
  turn?: Turn;
}
