import { encodeArtifact, decodeArtifact, unwrapEnvelope } from "/work/main/lib/artifact.ts";
import { tableFromIPC } from "apache-arrow";
const t = { columns: [
  { name: "s", type: "string" }, { name: "i", type: "int" }, { name: "f", type: "float" },
  { name: "b", type: "bool" }, { name: "ts", type: "timestamp" }, { name: "d", type: "date" }] as any,
  rows: [
   { s: "héllo ✓", i: 1, f: 1.5, b: true, ts: new Date("2023-03-21T21:00:00Z"), d: new Date("1969-12-31T00:00:00Z") },
   { s: null, i: null, f: null, b: false, ts: null, d: null },
   { s: "x", i: -9007199254740991, f: NaN, b: true, ts: new Date(1234567890123), d: new Date("2024-02-29T00:00:00Z") },
  ] };
const bytes = encodeArtifact(t);
console.log(bytes.subarray(0, 120).toString(), "...", bytes.subarray(bytes.length-60).toString());
const back = decodeArtifact(bytes, "x-latest");
console.log(JSON.stringify(back));
const a = tableFromIPC(unwrapEnvelope(bytes));
console.log(a.schema.fields.map(f => `${f.name}:${f.type}`).join(", "), [...a.schema.metadata.keys()]);
console.log(a.toArray().map(r => JSON.stringify(r.toJSON(), (k,v)=> typeof v === 'bigint' ? v.toString() : v)));
