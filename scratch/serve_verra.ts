import { startFakeVerra, generateVerraRecords } from "../test/fakes/verra.ts";
const n = Number(process.argv[2] ?? 5000);
const fake = await startFakeVerra({ records: generateVerraRecords(n), maxRowsPerAnswer: Number(process.argv[3] ?? 10000) });
console.log(fake.url);
setInterval(() => {}, 1 << 30);
