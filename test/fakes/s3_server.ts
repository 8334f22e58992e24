// The process behind test/fakes/s3.ts: s3rver on 127.0.0.1, a free port sent to the parent.
// Usage (by fork only): s3_server.ts <directory> <bucket>...
import S3rver from "s3rver";

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1", port: 0, silent: true, directory: directory!,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const injected: { bucket: string; key: string }[] = [];
let failWrites: { bucket: string; after: number } | undefined;
// First in Koa's chain: it can refuse a request before s3rver sees it, and sees the listing's XML after s3rver made it.
server.middleware.unshift(async (ctx, next) => {
  const bucket = ctx.path.split("/")[1];
  if (ctx.method === "PUT" && failWrites?.bucket === bucket && failWrites.after-- <= 0) {
    ctx.status = 500;
    ctx.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>injected failure</Message></Error>";
    return;
  }
  await next();
  if (ctx.method !== "GET" || ctx.query["list-type"] !== "2" || ctx.query["continuation-token"] || typeof ctx.body !== "string") return;
  const extra = injected.filter((i) => i.bucket === bucket && i.key.startsWith(String(ctx.query.prefix ?? "")));
  const entries = extra.map((i) =>
    `<Contents><Key>${i.key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>`);
  ctx.body = ctx.body.replace("</ListBucketResult>", `${entries.join("")}</ListBucketResult>`);
});
process.on("message", (message: { inject?: { bucket: string; key: string }; failWrites?: { bucket: string; after: number } | null }) => {
  if (message.inject) injected.push(message.inject);
  if (message.failWrites !== undefined) failWrites = message.failWrites ?? undefined;
  process.send!({ done: true });
});
process.on("disconnect", () => process.exit(0)); // the parent is gone
const { port } = await server.run();
process.send!({ port });
