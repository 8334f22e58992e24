// Preloaded into a flow process by the crash test (node --import): the first
// write of a temporary file for the key in STALL_WRITE_KEY writes half its bytes,
// says "HALF-WRITTEN" on stdout, and then never finishes, so the test can kill
// the process in the middle of writing an artifact, deterministically.
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";

const key = process.env.STALL_WRITE_KEY;
const realOpen = fsp.open;

fsp.open = (async (...args: Parameters<typeof realOpen>) => {
  const handle = await realOpen(...args);
  if (key && String(args[0]).includes(`.${key}.`)) {
    handle.writeFile = (async (data: Uint8Array) => {
      await handle.write(data.subarray(0, Math.floor(data.length / 2)));
      process.stdout.write("HALF-WRITTEN\n");
      await new Promise(() => {});
    }) as typeof handle.writeFile;
  }
  return handle;
}) as typeof realOpen;
syncBuiltinESMExports(); // so that `import { open } from "node:fs/promises"` sees the wrapper
