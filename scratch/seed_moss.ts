import { writeFileSync, mkdirSync } from "node:fs";
import { encodeArtifact } from "../lib/artifact.ts";
import { table } from "../lib/table.ts";
mkdirSync("data/lake", { recursive: true });
writeFileSync("data/lake/raw_eth_moss_bridged_offsets-latest", encodeArtifact(table(
  { ID: "string", "Serial Number": "string", Date: "int", "Token Address": "string", Vintage: "string", "Project ID": "string", Quantity: "float", "Original Tx Address": "string" },
  [{ ID: "1", "Serial Number": "7059-367676034-367676083-VCU-005-APX-BR-14-1686-01072014-31122014-1", Date: 1650000000, "Token Address": "0xfc98", Vintage: "2014", "Project ID": "VCS-1686", Quantity: 50, "Original Tx Address": "0x" + "0".repeat(64) }])));
