// A real S3-protocol server on loopback (s3rver, files in a temporary folder),
// spoken to through @aws-sdk/client-s3 exactly as Spaces is in production.
// It runs in its own process: s3rver's continuation tokens use DES, which
// Node's OpenSSL 3 offers only with --openssl-legacy-provider, a flag we keep
// out of the test process itself.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface FakeS3 {
  endpoint: string;
  /** What a script needs to reach the server (endpoint and credentials). */
  env: Record<string, string>;
  /** Give an object a last-modified time (s3rver reports the file's mtime). */
  setLastModified(bucket: string, objectKey: string, at: Date): void;
  /**
   * Make listings of `bucket` also show `objectKey`, a key real S3 can hold but
   * no file system can (`lake/../../etc/x-latest`): a hostile or damaged bucket.
   */
  injectListedKey(bucket: string, objectKey: string): Promise<void>;
  /** Answer HTTP 500 to every PUT (uploads and copies) into `bucket` after the next `after`; null heals. */
  failWritesAfter(bucket: string, after: number): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

export const FAKE_S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), "s3_server.ts");

export async function startFakeS3(buckets: string[] = ["dev-klimadao-data", "prod-klimadao-data"]): Promise<FakeS3> {
  const directory = mkdtempSync(path.join(tmpdir(), "fake-s3-"));
  const child = fork(SERVER, [directory, ...buckets], {
    execArgv: ["--openssl-legacy-provider", "--import", import.meta.resolve("tsx")],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const [ready] = (await Promise.race([
    once(child, "message"),
    once(child, "exit").then(([code]) => { throw new Error(`the fake S3 server exited with code ${code}`); }),
  ])) as [{ port: number }];
  const endpoint = `http://127.0.0.1:${ready.port}`;
  const control = async (message: object) => {
    child.send(message);
    await once(child, "message");
  };
  return {
    endpoint,
    env: { DATA_PIPELINES_S3_ENDPOINT: endpoint, ...FAKE_S3_CREDENTIALS },
    setLastModified(bucket, objectKey, at) {
      utimesSync(path.join(directory, bucket, ...`${objectKey}._S3rver_object`.split("/")), at, at);
    },
    injectListedKey: (bucket, key) => control({ inject: { bucket, key } }),
    failWritesAfter: (bucket, after) => control({ failWrites: { bucket, after } }),
    heal: () => control({ failWrites: null }),
    async close() {
      if (child.exitCode === null) {
        child.kill();
        await once(child, "exit");
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
