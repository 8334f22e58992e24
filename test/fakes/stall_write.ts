// Preloaded into a flow process by the crash test (node --import): writing a temporary
// file for the key in STALL_WRITE_KEY (by writeFile or copyFile) writes half the bytes,
// says "HALF-WRITTEN" on stdout and never finishes, so the test can kill the process
// in the middle of writing an artifact, deterministically.
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";

const key = process.env.STALL_WRITE_KEY;
const isTarget = (file: unknown) => Boolean(key) && String(file).includes(`.${key}.`);

async function stallAfterHalf(file: unknown, data: Uint8Array): Promise<never> {
  await realWriteFile(file as string, data.subarray(0, Math.floor(data.length / 2)));
  process.stdout.write("HALF-WRITTEN\n");
  return new Promise<never>(() => {});
}

const realOpen = fsp.open;
const realCopyFile = fsp.copyFile;
const realWriteFile = fsp.writeFile;

fsp.open = (async (...args: Parameters<typeof realOpen>) => {
  const handle = await realOpen(...args);
  if (isTarget(args[0])) handle.writeFile = ((data: Uint8Array) => stallAfterHalf(args[0], data)) as typeof handle.writeFile;
  return handle;
}) as typeof realOpen;

fsp.copyFile = (async (source: Parameters<typeof realCopyFile>[0], destination: Parameters<typeof realCopyFile>[1], mode?: number) => {
  if (isTarget(destination)) return stallAfterHalf(destination, await fsp.readFile(source));
  return realCopyFile(source, destination, mode);
}) as typeof realCopyFile;

syncBuiltinESMExports(); // so that `import { open, copyFile } from "node:fs/promises"` sees the wrappers
