// Who may read the status page: anyone on this machine when it is bound to loopback (see
// lib/config/status.ts); otherwise only with DATA_PIPELINES_STATUS_TOKEN.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The token, as `Authorization: Bearer <token>` or basic auth with it as the password (any user name). */
export function authorized(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const [scheme, value = ""] = header.trim().split(/\s+/, 2);
  let given: string | undefined;
  if (scheme?.toLowerCase() === "bearer") given = value;
  else if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    given = decoded.includes(":") ? decoded.slice(decoded.indexOf(":") + 1) : undefined;
  }
  return given !== undefined && timingSafeEqual(digest(given), digest(token)); // same length, constant time
}
