const keys = Array.from({length: 25}, (_, i) => `Column Name ${i}`);
globalThis.gc();
const base = process.memoryUsage().heapUsed;
const rows = [];
for (let r = 0; r < 200000; r++) { const o = {}; for (const k of keys) o[k] = 5; rows.push(o); }
globalThis.gc();
console.log("25 smi props, dynamic:", ((process.memoryUsage().heapUsed - base)/200000).toFixed(0), "B/row", rows.length);
const rows2 = [];
const base2 = process.memoryUsage().heapUsed;
const json = JSON.stringify(Object.fromEntries(keys.map(k => [k, 5])));
for (let r = 0; r < 200000; r++) { rows2.push(JSON.parse(json)); }
globalThis.gc();
console.log("JSON.parse objects:", ((process.memoryUsage().heapUsed - base2)/200000).toFixed(0), "B/row", rows2.length);
