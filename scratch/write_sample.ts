// Scratch: encode a table equivalent to test/fixtures/make_pandas_fixtures.py's frame
// with our codec, for reading back in real pandas:
//   npx tsx scratch/write_sample.ts [out]   (default /tmp/ours.artifact)
//   /tmp/pyvenv/bin/python test/fixtures/read_artifact.py /tmp/ours.artifact
import { writeFileSync } from "node:fs";
import { encodeArtifact } from "../lib/artifact.ts";
import { table } from "../lib/table.ts";

const sample = table(
  { name: "string", count: "int", vintage: "int", price: "float", flag: "bool", when: "timestamp", day: "date" },
  [
    { name: "héllo ✓", count: 1, vintage: 2010, price: 1.5, flag: true,
      when: new Date("2023-03-21T21:00:00Z"), day: new Date("2024-02-29T00:00:00Z") },
    { name: null, count: 2, vintage: null, price: null, flag: false, when: null, day: null },
    { name: "Reducción — São Paulo", count: 3, vintage: 2021, price: -2.25, flag: true,
      when: new Date("1969-12-31T23:59:59Z"), day: new Date("1970-01-01T00:00:00Z") },
  ],
);

const out = process.argv[2] ?? "/tmp/ours.artifact";
const bytes = encodeArtifact(sample);
writeFileSync(out, bytes);
console.log(`wrote ${bytes.length} bytes to ${out}`);
