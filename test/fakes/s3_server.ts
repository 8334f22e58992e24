// The process behind test/fakes/s3.ts: s3rver on 127.0.0.1, a free port sent to the parent.
// Usage (by fork only): s3_server.ts <directory> <bucket>...
import S3rver from "s3rver";

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1", port: 0, silent: true, directory: directory!,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const injected: { bucket: string; key: string }[] = [];
// First in Koa's chain, so it sees the listing's XML after s3rver has made it.
server.middleware.unshift(async (ctx, next) => {
  await next();
  if (ctx.method !== "GET" || ctx.query["list-type"] !== "2" || ctx.query["continuation-token"] || typeof ctx.body !== "string") return;
  const bucket = ctx.path.split("/")[1];
  const extra = injected.filter((i) => i.bucket === bucket && i.key.startsWith(String(ctx.query.prefix ?? "")));
  const entries = extra.map((i) =>
    `<Contents><Key>${i.key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>`);
  ctx.body = ctx.body.replace("</ListBucketResult>", `${entries.join("")}</ListBucketResult>`);
});
process.on("message", (message: { inject: { bucket: string; key: string } }) => {
  injected.push(message.inject);
  process.send!({ injected: true });
});
process.on("disconnect", () => process.exit(0)); // the parent is gone
const { port } = await server.run();
process.send!({ port });
