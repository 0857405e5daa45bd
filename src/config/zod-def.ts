/**
 * zod's internal definition of a schema (`schema._zod.def`), read where zod has no public API for it: the JSON
 * Schema's input defaults (json-schema.ts) and the "did you mean" walk (suggest.ts). The fields read here are
 * checked by test/contracts/zod.test.ts.
 */
import type { z } from 'zod';

export interface ZodDef {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly defaultValue?: unknown;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly options?: z.ZodType[];
  readonly shape?: Record<string, z.ZodType>;
}

export function defOf(schema: unknown): ZodDef {
  return (schema as { _zod: { def: ZodDef } })._zod.def;
}
