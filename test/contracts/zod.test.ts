/**
 * zod 4's schema definitions (`schema._zod.def`), as the config tooling walks them. zod documents `_zod` for
 * library authors but marks it internal; the fields read here are the ones Portico's walkers use.
 */
import { z } from 'zod';
import { defOf } from '../../src/config/zod-def.js';
import { assumption } from './support';

assumption(
  '`_zod.def` names each schema kind in `type`, and wrappers (default, optional) expose `innerType` and `defaultValue`',
  'src/config/zod-def.ts defOf(), read by src/config/json-schema.ts inputDefault() and src/config/suggest.ts unwrap(): find defaults and unwrap wrappers',
  () => {
    const inner = z.string();
    const withDefault = inner.default('x');
    expect(defOf(withDefault)).toMatchObject({ type: 'default', innerType: inner, defaultValue: 'x' });
    expect(defOf(inner.optional())).toMatchObject({ type: 'optional', innerType: inner });
  },
);

assumption(
  '`_zod.def` of a pipe (`.pipe()`, `.transform()`) exposes its input schema as `in`',
  'src/config/json-schema.ts isDuration() and src/config/suggest.ts unwrap(): a duration is a pipe from `durationInput`',
  () => {
    const input = z.string();
    expect(defOf(input.pipe(z.string()))).toMatchObject({ type: 'pipe', in: input });
    expect(defOf(input.transform((text) => text.length))).toMatchObject({ type: 'pipe', in: input });
  },
);

assumption(
  "`_zod.def` exposes an object's `shape`, an array's `element`, a record's `valueType` and a union's `options`",
  'src/config/suggest.ts allowedKeys(): walks the config schema along an issue\'s path for "did you mean"',
  () => {
    const leaf = z.number();
    expect(defOf(z.object({ port: leaf }))).toMatchObject({ type: 'object', shape: { port: leaf } });
    expect(defOf(z.array(leaf))).toMatchObject({ type: 'array', element: leaf });
    expect(defOf(z.record(z.string(), leaf))).toMatchObject({ type: 'record', valueType: leaf });
    const other = z.string();
    expect(defOf(z.union([leaf, other]))).toMatchObject({ type: 'union', options: [leaf, other] });
  },
);
