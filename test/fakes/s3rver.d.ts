// The part of s3rver (which ships no types) that test/fakes/s3.ts uses.
declare module "s3rver" {
  export interface Context {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    body: unknown;
    status: number;
  }
  export default class S3rver {
    constructor(options: {
      address: string;
      port: number;
      silent: boolean;
      directory: string;
      configureBuckets: { name: string; configs: string[] }[];
    });
    /** Koa's middleware chain: s3rver is a Koa application. */
    middleware: ((ctx: Context, next: () => Promise<void>) => Promise<void>)[];
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
