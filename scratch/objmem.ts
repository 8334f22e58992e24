const keys = Array.from({length: 25}, (_, i) => `Column Name ${i}`);
const mb = () => (process.memoryUsage().heapUsed/1e6).toFixed(0);
(globalThis as any).gc();
const base = process.memoryUsage().heapUsed;
const rows: any[] = [];
for (let r = 0; r < 500000; r++) { const o: any = {}; for (const k of keys) o[k] = r % 2 ? "x" : 5; rows.push(o); }
(globalThis as any).gc();
console.log("dynamic keys", ((process.memoryUsage().heapUsed - base)/500000).toFixed(0), "B/row");

