// The status page's settings: where it listens, and whether that is safe. Off loopback it needs
// DATA_PIPELINES_STATUS_TOKEN; the daemon and status.ts check this before they serve anything.
import { isIP } from "node:net";
import { ConfigError } from "../core/errors.ts";

/** The status page: where it listens (undefined: off) and the token it asks for. */
export interface StatusSettings {
  listen: { host: string; port: number } | undefined;
  token: string | undefined;
}

/** `host:port` (`[::1]:8411` for IPv6), or `off` (undefined); `name` is the variable or flag it came from. */
export function parseListen(value: string, name: string): StatusSettings["listen"] {
  if (value === "off") return undefined;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):([^:]*)$/.exec(value);
  if (!match) throw new ConfigError(`${name}: "${value}" is not host:port (127.0.0.1:8411, 0.0.0.0:8411, [::1]:8411) or off`);
  const port = /^[0-9]{1,5}$/.test(match[3]!) ? Number(match[3]) : NaN;
  if (!(port <= 65_535)) throw new ConfigError(`${name}: port "${match[3]}" is not a whole number from 0 to 65535`);
  return { host: match[1] ?? match[2]!, port };
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "::ffff:127.0.0.1";
}

/** Refuse (exit 2) a status page bound off loopback without a token: anyone on the network could read it. */
export function checkStatusSettings(status: StatusSettings, from = "DATA_PIPELINES_STATUS_ADDR"): void {
  if (status.listen && !isLoopback(status.listen.host) && !status.token) {
    throw new ConfigError(
      `${from}: ${status.listen.host} is not a loopback address: set DATA_PIPELINES_STATUS_TOKEN too (the page then asks for it), or bind 127.0.0.1`,
    );
  }
}

