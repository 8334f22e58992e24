import { readFileSync } from "node:fs";
import { decodeArtifact } from "../lib/artifact.ts";
const a = decodeArtifact(readFileSync("/tmp/big/data/lake/verra_data_v2-latest"), "a-latest");
for (const f of ["/tmp/big_lz4.artifact", "/tmp/big_zstd.artifact"]) {
  const t = performance.now();
  const b = decodeArtifact(readFileSync(f), "b-latest");
  console.log(f, (performance.now()-t).toFixed(0), "ms", JSON.stringify(a.columns) === JSON.stringify(b.columns), a.rows.length === b.rows.length,
    a.rows.every((r, i) => JSON.stringify(r) === JSON.stringify(b.rows[i])));
}
