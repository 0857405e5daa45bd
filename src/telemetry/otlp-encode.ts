/**
 * OTLP protobuf encoding of finished spans, one span at a time, for the span processor in ./otlp-export.ts.
 *
 * Why not the library's serializer (@opentelemetry/otlp-transformer): it encodes a whole batch when the batch is
 * exported, so every span waits in the processor's queue as a live SDK object (attributes, times, context) until
 * then: long enough to survive young-generation collections and be promoted, which was about half of what the
 * full chain promoted per scavenge (bench/README.md). Encoded as it ends, a span's object dies with its request
 * and only its ~170 bytes wait. The library has no per-span entry point, and its batch serializer makes two passes
 * (a size estimate, then the write) with a new byte array for every trace and span id in each.
 *
 * The bytes are the library's, field for field and in the same order (a unit test compares them with
 * `ProtobufTraceSerializer.serializeRequest` for the same spans), so collectors see what the SDK exporter sends.
 * Field numbers are those of opentelemetry-proto (trace/v1/trace.proto, common/v1/common.proto). The ReadableSpan
 * fields read here, and the SDK's internal transport used by ./otlp-export.ts, are checked by
 * test/contracts/opentelemetry.test.ts.
 */
import type { HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** Span.flags bits: the W3C trace flags, and whether the parent's "is remote" is known and set. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** A growable byte buffer with protobuf primitives. Length prefixes are written after their content. */
export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  reset(): void {
    this.pos = 0;
  }

  private ensure(more: number): void {
    const need = this.pos + more;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    if (value >= 0 && value < 0x80) {
      buf[this.pos++] = value;
      return;
    }
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    // 64 bits as two halves; a negative int64 is its two's complement (ten bytes on the wire).
    const abs = Math.abs(value);
    let low = abs >>> 0;
    let high = Math.floor(abs / 0x100000000) >>> 0;
    if (value < 0) {
      low = (~low + 1) >>> 0;
      high = (~high + (low === 0 ? 1 : 0)) >>> 0;
    }
    while (high !== 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low;
  }

  tag(field: number, wire: number): void {
    const key = (field << 3) | wire;
    if (key < 0x80 && this.pos < this.buf.length) this.buf[this.pos++] = key;
    else this.varint(key);
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** An HrTime ([seconds, nanoseconds]) as fixed64 nanoseconds, exact past 2^53 ns (the year 2255). */
  time(time: HrTime): void {
    const seconds = time[0];
    // seconds * 1e9 does not fit a double exactly: split seconds at 2^16 so that each product does.
    const upper = Math.floor(seconds / 0x10000);
    const lowerPart = (seconds - upper * 0x10000) * 1e9 + time[1];
    const upperPart = upper * 1e9; // times 2^16 in the sum
    const lowWord = (upperPart % 0x10000) * 0x10000 + lowerPart;
    const low = lowWord % 0x100000000;
    const high = Math.floor(upperPart / 0x10000) + Math.floor(lowWord / 0x100000000);
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string: ASCII copied byte by byte, anything else through Buffer's encoder. */
  string(value: string): void {
    const length = value.length;
    this.ensure(length + 5);
    const start = this.pos;
    this.varint(length);
    const buf = this.buf;
    let at = this.pos;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) {
        this.pos = start;
        this.utf8(value);
        return;
      }
      buf[at++] = code;
    }
    this.pos = at;
  }

  private utf8(value: string): void {
    const bytes = Buffer.byteLength(value);
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** Lowercase or uppercase hex (a trace or span id) as the bytes it spells, length-prefixed. */
  hex(value: string): void {
    const length = value.length >>> 1;
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    for (let i = 0; i < length; i++)
      buf[this.pos++] = (nibble(value.charCodeAt(2 * i)) << 4) | nibble(value.charCodeAt(2 * i + 1));
  }

  raw(bytes: Uint8Array, start = 0, end = bytes.length): void {
    this.ensure(end - start);
    this.buf.set(bytes.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  /** Starts a length-delimited field: returns the mark `end` takes. One byte is reserved for the length. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length of the field begun at `mark`, moving its content when the length needs more than a byte. */
  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 0x80) {
      this.buf[mark] = length;
      return;
    }
    const size = varintSize(length);
    this.ensure(size - 1);
    this.buf.copyWithin(mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let v = length;
    let at = mark;
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }
}

function nibble(code: number): number {
  return code <= 57 ? code - 48 : code <= 70 ? code - 55 : code - 87;
}

function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v > 0x7f; v = Math.floor(v / 128)) size++;
  return size;
}

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** AnyValue (common.proto): string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7; anything else: empty. */
function anyValue(w: ProtoWriter, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, LEN);
      w.string(value);
      return;
    case 'boolean':
      w.tag(2, VARINT);
      w.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.tag(3, VARINT);
        w.varint(value);
      } else {
        w.tag(4, I64);
        w.double(value);
      }
      return;
    case 'object':
      if (value === null) return;
      if (value instanceof Uint8Array) {
        w.tag(7, LEN);
        w.bytes(value);
      } else if (Array.isArray(value)) {
        const list = w.begin(5);
        for (const item of value as unknown[]) {
          const entry = w.begin(1);
          anyValue(w, item);
          w.end(entry);
        }
        w.end(list);
      } else {
        const list = w.begin(6);
        attributes(w, value as Record<string, unknown>, 1);
        w.end(list);
      }
      return;
    default:
  }
}

/** Repeated KeyValue under `field`: own enumerable keys, in their order. */
function attributes(w: ProtoWriter, values: Readonly<Record<string, unknown>>, field: number): void {
  for (const key in values) {
    if (!Object.prototype.hasOwnProperty.call(values, key)) continue;
    const pair = w.begin(field);
    w.tag(1, LEN);
    w.string(key);
    const value = w.begin(2);
    anyValue(w, values[key]);
    w.end(value);
    w.end(pair);
  }
}

function spanFlags(traceFlags: number, remote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (remote === true ? IS_REMOTE : 0);
}

/** One span as ScopeSpans.spans (field 2): the tag, the length and the Span message. */
export function encodeSpan(w: ProtoWriter, span: ReadableSpan): void {
  const mark = w.begin(2);
  const context = span.spanContext();
  w.tag(1, LEN);
  w.hex(context.traceId);
  w.tag(2, LEN);
  w.hex(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    w.tag(3, LEN);
    w.string(traceState);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.tag(4, LEN);
    w.hex(parent.spanId);
  }
  w.tag(5, LEN);
  w.string(span.name);
  // SpanKind is offset by one on the wire (0 is "unspecified", which the API has no value for).
  if (span.kind != null) {
    w.tag(6, VARINT);
    w.varint(span.kind + 1);
  }
  w.tag(7, I64);
  w.time(span.startTime);
  w.tag(8, I64);
  w.time(span.endTime);
  attributes(w, span.attributes, 9);
  w.tag(10, VARINT);
  w.varint(span.droppedAttributesCount);
  for (const event of span.events) {
    const entry = w.begin(11);
    w.tag(1, I64);
    w.time(event.time);
    w.tag(2, LEN);
    w.string(event.name);
    if (event.attributes) attributes(w, event.attributes, 3);
    w.tag(4, VARINT);
    w.varint(event.droppedAttributesCount ?? 0);
    w.end(entry);
  }
  w.tag(12, VARINT);
  w.varint(span.droppedEventsCount);
  for (const link of span.links) {
    const entry = w.begin(13);
    w.tag(1, LEN);
    w.hex(link.context.traceId);
    w.tag(2, LEN);
    w.hex(link.context.spanId);
    const linkState = link.context.traceState?.serialize();
    if (linkState) {
      w.tag(3, LEN);
      w.string(linkState);
    }
    if (link.attributes) attributes(w, link.attributes, 4);
    w.tag(5, VARINT);
    w.varint(link.droppedAttributesCount ?? 0);
    w.tag(6, I32);
    w.fixed32(spanFlags(link.context.traceFlags, link.context.isRemote));
    w.end(entry);
  }
  w.tag(14, VARINT);
  w.varint(span.droppedLinksCount);
  const status = w.begin(15);
  if (span.status.message) {
    w.tag(2, LEN);
    w.string(span.status.message);
  }
  w.tag(3, VARINT);
  w.varint(span.status.code);
  w.end(status);
  w.tag(16, I32);
  w.fixed32(spanFlags(context.traceFlags, parent?.isRemote));
  w.end(mark);
}

/** ResourceSpans.resource (field 1): the resource's attributes and a zero dropped count. */
export function encodeResource(w: ProtoWriter, resource: Resource): void {
  const mark = w.begin(1);
  attributes(w, resource.attributes, 1);
  w.tag(2, VARINT);
  w.varint(0);
  w.end(mark);
}

/** ScopeSpans.scope (field 1): name, and version, attributes, dropped count when present. */
export function encodeScope(
  w: ProtoWriter,
  scope: InstrumentationScope & { attributes?: Record<string, unknown>; droppedAttributesCount?: number },
): void {
  const mark = w.begin(1);
  w.tag(1, LEN);
  w.string(scope.name);
  if (scope.version) {
    w.tag(2, LEN);
    w.string(scope.version);
  }
  if (scope.attributes) attributes(w, scope.attributes, 3);
  if (scope.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint(scope.droppedAttributesCount);
  }
  w.end(mark);
}

/** Encoded spans of one resource and scope, as they wait for an export. */
export interface ScopeBatch {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly spans: ProtoWriter;
}

/**
 * An ExportTraceServiceRequest from encoded spans: one ResourceSpans per resource (in order of first appearance),
 * one ScopeSpans per scope within it, with the schema URLs last, as the library writes them.
 */
export function encodeRequest(batches: readonly ScopeBatch[], out: ProtoWriter = new ProtoWriter()): Uint8Array {
  out.reset();
  const resources: Resource[] = [];
  for (const batch of batches) if (!resources.includes(batch.resource)) resources.push(batch.resource);
  for (const resource of resources) {
    const resourceMark = out.begin(1);
    encodeResource(out, resource);
    for (const batch of batches) {
      if (batch.resource !== resource) continue;
      const scopeMark = out.begin(2);
      encodeScope(out, batch.scope);
      out.raw(batch.spans.buf, 0, batch.spans.pos);
      if (batch.scope.schemaUrl) {
        out.tag(3, LEN);
        out.string(batch.scope.schemaUrl);
      }
      out.end(scopeMark);
    }
    if (resource.schemaUrl) {
      out.tag(3, LEN);
      out.string(resource.schemaUrl);
    }
    out.end(resourceMark);
  }
  return out.buf.subarray(0, out.pos);
}
