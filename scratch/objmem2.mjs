const keys = Array.from({length: 35}, (_, i) => `Column Name ${i}`);
const measure = (label, make) => { globalThis.gc(); const base = process.memoryUsage().heapUsed; const rows = []; for (let r = 0; r < 200000; r++) rows.push(make(r)); globalThis.gc(); console.log(label, ((process.memoryUsage().heapUsed - base)/200000).toFixed(0), "B/row", rows.length); };
const factory = new Function("v", `return {${keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(", ")}};`);
const vals = keys.map(() => 5);
measure("literal factory", () => factory(vals));
measure("dynamic", () => { const o = {}; for (const k of keys) o[k] = 5; return o; });
const tmpl = Object.fromEntries(keys.map(k => [k, null]));
measure("spread template", () => { const o = { ...tmpl }; for (const k of keys) o[k] = 5; return o; });
measure("Object.fromEntries", () => Object.fromEntries(keys.map(k => [k, 5])));
