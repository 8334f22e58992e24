// The lake: where artifacts live. A local folder here (lib/lake/local.ts), an S3 bucket elsewhere
// (lib/lake/s3.ts), both behind the interface of lib/lake/keys.ts, re-exported here; openLake picks one.
import type { Config, Storage } from "../config/config.ts";
import { ArtifactError } from "../core/errors.ts";
import type { Lake } from "./keys.ts";
import { LocalLake } from "./local.ts";

export * from "./keys.ts";
export { LocalLake } from "./local.ts";


/**
 * Copy an artifact from one lake to another: server-side when the lakes allow it
 * (one S3 endpoint, or two folders), else read here and written in one piece.
 */
export async function transfer(from: Lake, fromKey: string, to: Lake, toKey: string, ifMatch?: string): Promise<string> {
  const direct = await to.copyFrom(from, fromKey, toKey, ifMatch);
  if (direct) return direct;
  const bytes = await from.read(fromKey);
  if (!bytes) throw new ArtifactError(`${from.label}: cannot copy ${fromKey}: no such artifact`);
  await to.write(toKey, bytes);
  return "through this process";
}

/** The S3 settings of the configuration; the SDK is loaded only when an S3 lake is opened. */
export async function openLake(
  storage: Storage,
  config: Pick<Config, "s3Endpoint" | "awsAccessKeyId" | "awsSecretAccessKey" | "httpTimeoutMs" | "httpDeadlineMs" | "httpMaxBytes">,
): Promise<Lake> {
  if (storage.kind === "local") return new LocalLake(storage.dir, storage.label);
  const { s3Lake } = await import("./s3.ts");
  return s3Lake(storage.bucket, storage.prefix, storage.label, {
    endpoint: config.s3Endpoint, accessKeyId: config.awsAccessKeyId, secretAccessKey: config.awsSecretAccessKey,
    timeoutMs: config.httpTimeoutMs, deadlineMs: config.httpDeadlineMs, maxBytes: config.httpMaxBytes,
  });
}
